# A Redis that stops answering (SIGSTOP, DEBUG SLEEP): requests to apikey
# locations fail by the timeout, the worker is never blocked, and everything
# recovers by itself. And a Redis restarted with its data: the script is
# reloaded transparently.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use ApikeyTest;

use IO::Select;
use IO::Socket::INET;
use POSIX ();

my $redis = ApikeyTest::Redis->start(args => ['--enable-debug-command', 'yes']);
# /api/ gives up after 250 ms; /slow/ waits as long as it takes, so that its
# checks are certainly still waiting while the open location is asked
my $nginx = ApikeyTest::Nginx->start(redis => $redis, location => 'apikey on; apikey_redis_timeout 250ms;',
    server => 'location /slow/ { apikey on; apikey_redis_timeout 60s; proxy_pass http://127.0.0.1:$upstream_port; }');
my $key = $redis->create_key(name => 'k', limits => ['6000r/m:1000']);

# the script's digest, from the EVALSHA nginx sends (the slow log keeps every command)
$redis->cmd('CONFIG', 'SET', 'slowlog-log-slower-than', '0');
is $nginx->get('/api/x', 'X-API-Key' => $key->{token})->{status}, 200, 'before the pause';
my ($sha) = $redis->cmd('SLOWLOG', 'GET', '100') =~ /^evalsha\n([0-9a-f]{40})$/mi;
ok $sha, 'nginx ran the check script by its digest' or diag $redis->cmd('SLOWLOG', 'GET', '100');
$redis->cmd('CONFIG', 'SET', 'slowlog-log-slower-than', '10000');

# True while Redis does not answer a PING (within 0.2 s: an awake Redis answers in microseconds).
sub asleep {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $redis->port, Proto => 'tcp')
        or return 0;
    $s->syswrite("PING\r\n");
    my $answered = IO::Select->new($s)->can_read(0.2);
    close $s;
    return !$answered;
}

sub poll {
    my ($seconds, $check) = @_;
    my $until = time + $seconds;
    until ($check->()) { return 0 if time > $until; sleep 0.05 }
    return 1;
}

# DEBUG SLEEP from a redis-cli of its own: it returns when Redis wakes up
my $sleeper;
sub debug_sleep {
    $sleeper = fork // die "fork: $!";
    if ($sleeper == 0) {
        open STDOUT, '>', '/dev/null';
        exec 'redis-cli', '-p', $redis->port, 'DEBUG', 'SLEEP', '3' or POSIX::_exit(127);
    }
    poll(10, \&asleep) or die 'Redis did not fall asleep';
}
sub sleeping { $sleeper && waitpid($sleeper, POSIX::WNOHANG()) == 0 }
sub wake_up { waitpid $sleeper, 0; undef $sleeper }

for my $pause (['SIGSTOP', sub { kill 'STOP', $redis->pid; poll(10, \&asleep) }, sub { 1 },
                           sub { kill 'CONT', $redis->pid }],
               ['DEBUG SLEEP', \&debug_sleep, \&sleeping, \&wake_up]) {
    my ($what, $stop, $still_paused, $resume) = @$pause;

    # checks that wait for Redis do not stop the worker: five in flight, and
    # meanwhile a location without the module answers
    $stop->();
    my @waiting = map { $nginx->send_request('GET', '/slow/x', 'X-API-Key' => $key->{token}) } 1 .. 5;
    is $nginx->get('/open/x')->{status}, 200, "$what: open location answers" for 1 .. 5;
    ok !IO::Select->new(@waiting)->can_read(0), "$what: the worker was never blocked (answered while five checks wait)";
    ok $still_paused->(), "$what: ... and Redis was paused all the while";
    $resume->();
    is $nginx->read_response($_, 30)->{status}, 200, "$what: the waiting check passes once Redis answers"
        for @waiting;

    # checks that give up: refused by their timeout, not by Redis waking up
    $stop->();
    my @socks = map { $nginx->send_request('GET', '/api/x', 'X-API-Key' => $key->{token}) } 1 .. 5;
    my @res = map { $nginx->read_response($_, 30) } @socks;
    is $_->{status}, 503, "$what: apikey location 503" for @res;
    ok $still_paused->(), "$what: all refused by the timeout, while Redis was still paused";
    $resume->();

    my $status = 0;
    poll(10, sub { ($status = $nginx->get('/api/x', 'X-API-Key' => $key->{token})->{status}) == 200 });
    is $status, 200, "$what: answered again once Redis is";
}

# restarted with its data kept (and an empty script cache)
$redis->cmd('SAVE');
$redis->stop;
system('redis-server', '--port', $redis->port, '--bind', '127.0.0.1', '--appendonly', 'no',
       '--daemonize', 'yes', '--dir', $redis->{dir}, '--pidfile', "$redis->{dir}/redis.pid",
       '--logfile', "$redis->{dir}/redis.log");
ApikeyTest::wait_for_port($redis->port);
poll(10, sub { $redis->cmd('PING') eq 'PONG' });
my $status = 0;
poll(10, sub { ($status = $nginx->get('/api/x', 'X-API-Key' => $key->{token})->{status}) == 200 });
is $status, 200, 'restart with data kept: the key works';
is $redis->cmd('SCRIPT', 'EXISTS', $sha), '1', '... the new server has the script: nginx loaded it';

# the script cache emptied under a live connection: the next check meets
# NOSCRIPT, loads the script and is answered
$redis->cmd('SCRIPT', 'FLUSH');
is $redis->cmd('SCRIPT', 'EXISTS', $sha), '0', 'SCRIPT FLUSH: Redis forgets the script';
is $nginx->get('/api/x', 'X-API-Key' => $key->{token})->{status}, 200,
    'the next check is answered all the same';
is $redis->cmd('SCRIPT', 'EXISTS', $sha), '1', '... nginx loaded the script again';

$nginx->stop;
done_testing;
