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

my $redis = ApikeyTest::Redis->start(args => ['--enable-debug-command', 'yes']);
my $nginx = ApikeyTest::Nginx->start(redis => $redis, location => 'apikey on; apikey_redis_timeout 250ms;');
my $key = $redis->create_key(name => 'k', limits => ['6000r/m:1000']);
is $nginx->get('/api/x', 'X-API-Key' => $key->{token})->{status}, 200, 'before the pause';

for my $pause (['SIGSTOP', sub { kill 'STOP', $redis->pid }, sub { kill 'CONT', $redis->pid }],
               ['DEBUG SLEEP 2', sub { system("redis-cli -p @{[$redis->port]} DEBUG SLEEP 2 >/dev/null &") ; sleep 0.1 },
                                 sub { sleep 2 }]) {
    my ($what, $stop, $resume) = @$pause;
    $stop->();

    # five checks in flight at once, and meanwhile a location without the module
    my $t0 = time;
    my @socks = map { $nginx->send_request('GET', '/api/x', 'X-API-Key' => $key->{token}) } 1 .. 5;
    my @open_times;
    for (1 .. 5) {
        my $t = time;
        is $nginx->get('/open/x')->{status}, 200, "$what: open location answers";
        push @open_times, time - $t;
    }
    my @res = map { $nginx->read_response($_) } @socks;
    my $took = time - $t0;
    is $_->{status}, 503, "$what: apikey location 503" for @res;
    ok $took < 1.0, sprintf("$what: all refused by the timeout (%.2f s)", $took);
    my ($slowest) = sort { $b <=> $a } @open_times;
    ok $slowest < 0.1, sprintf("$what: the worker was never blocked (slowest open request %.3f s)", $slowest);

    $resume->();
    my $back = time;
    my $status = 0;
    while (time - $back < 3) {
        $status = $nginx->get('/api/x', 'X-API-Key' => $key->{token})->{status};
        last if $status == 200;
        sleep 0.05;
    }
    is $status, 200, "$what: answered again once Redis is";
    ok time - $back < 1.0, sprintf("$what: within a second (%.2f s)", time - $back);
}

# restarted with its data kept (and an empty script cache)
$redis->cmd('SAVE');
$redis->stop;
system('redis-server', '--port', $redis->port, '--bind', '127.0.0.1', '--appendonly', 'no',
       '--daemonize', 'yes', '--dir', $redis->{dir}, '--pidfile', "$redis->{dir}/redis.pid",
       '--logfile', "$redis->{dir}/redis.log");
ApikeyTest::wait_for_port($redis->port);
sleep 0.3;
is $redis->cmd('SCRIPT', 'EXISTS', '0' x 40), '0', 'the script cache starts empty';
my $status = 0;
for (1 .. 20) {
    $status = $nginx->get('/api/x', 'X-API-Key' => $key->{token})->{status};
    last if $status == 200;
    sleep 0.05;
}
is $status, 200, 'restart with data kept: the key works, the script was reloaded';

$nginx->stop;
done_testing;
