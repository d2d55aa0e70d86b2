# The two ways a sentinel-configured nginx learns of a new master, each alone,
# with a fake sentinel whose answer the test controls (a real one does both
# at once, see 500-sentinel.t): the +switch-master announcement, and a
# -READONLY reply from a demoted master, which makes the module ask again.
# Also: a dead sentinel first in the list, checks that arrive before any
# sentinel has answered, and configuration errors.
use strict;
use warnings;
use lib 't/lib';
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(sleep time);
use ApikeyTest;
use FakeRedis;

my $dir = tempdir(CLEANUP => 1);
my $redis = ApikeyTest::Redis->start;
my $key = $redis->create_key(name => 'real');

sub point_at {
    my ($file, $port) = @_;
    open my $f, '>', "$file.new" or die;
    print $f "127.0.0.1 $port\n";
    close $f;
    rename "$file.new", $file or die;
}

sub name_seen {
    my ($nginx) = @_;
    my $res = $nginx->get('/api/x', 'X-API-Key' => $key->{token});
    return $res->{status} == 200 && $res->{body} =~ /x-key-name=\[([^\]]*)\]/ ? $1 : "status $res->{status}";
}

sub wait_for_name {
    my ($nginx, $want, $seconds) = @_;
    my $until = time + $seconds;
    my $seen = '';
    while (time < $until) {
        $seen = name_seen($nginx);
        return $seen if $seen eq $want;
        sleep 0.05;
    }
    return $seen;
}

my $location = 'apikey on; apikey_limit off; proxy_set_header X-Key-Name $apikey_name;';

# --- +switch-master: the old master stays healthy, only the announcement moves us
{
    my $old = FakeRedis->start(evalsha => FakeRedis::ok_reply(name => 'at the old master'));
    my $file = "$dir/announce";
    point_at($file, $old->port);
    my $sentinel = FakeRedis->start(sentinel_file => $file, announce => 'mymaster');
    my $nginx = ApikeyTest::Nginx->start(
        apikey_redis => "apikey_redis sentinel=127.0.0.1:1," . $sentinel->address
                      . " master=mymaster;",
        location => $location, server => 'location = /metrics { apikey_metrics; }');

    is wait_for_name($nginx, 'at the old master', 5), 'at the old master',
        'the master the sentinel names is used (the dead sentinel first in the list is skipped)';

    point_at($file, $redis->port);
    is wait_for_name($nginx, 'real', 1), 'real', '+switch-master: moved to the new master within a second';
    like $nginx->get('/metrics')->{body}, qr/^apikey_redis_master_switches_total [1-9]/m,
        'counted in apikey_redis_master_switches_total';
    like $nginx->error_log, qr/apikey: redis master "mymaster" is at "127\.0\.0\.1:@{[ $redis->port ]}"/,
        'the switch is logged';
    $nginx->stop;
}

# --- a worker that has just started (a reload): checks wait for the sentinel's
# first answer instead of failing
{
    my $file = "$dir/slow";
    point_at($file, $redis->port);
    my $sentinel = FakeRedis->start(sentinel_file => $file, sentinel_delay => 0.3);
    my $nginx = ApikeyTest::Nginx->start(
        apikey_redis => "apikey_redis sentinel=" . $sentinel->address . " master=mymaster;",
        http => 'apikey_redis_timeout 2s;', location => $location);
    my $t = time;
    is name_seen($nginx), 'real', 'a check sent before any sentinel answered waits for the master';
    cmp_ok time - $t, '>=', 0.2, '... which took the sentinel\'s delay';
    $nginx->stop;

    # so does an admin API call: the same call type (redis_call.cpp)
    $nginx = ApikeyTest::Nginx->start(
        apikey_redis => "apikey_redis sentinel=" . $sentinel->address . " master=mymaster;",
        http => 'apikey_redis_timeout 2s;', location => $location,
        server => 'location /admin/ { allow 127.0.0.1; deny all; apikey_admin auth=off; }');
    $t = time;
    my $res = $nginx->get('/admin/keys');
    is $res->{status}, 200, 'an admin call sent before any sentinel answered waits for the master';
    like $res->{body}, qr/"keys":\[/, '... and lists the keys';
    cmp_ok time - $t, '>=', 0.2, '... which took the sentinel\'s delay';
    $nginx->stop;

    # no sentinel answers at all: the timeout, then 503
    $nginx = ApikeyTest::Nginx->start(
        apikey_redis => 'apikey_redis sentinel=127.0.0.1:1 master=mymaster;',
        http => 'apikey_redis_timeout 300ms;', location => $location,
        server => 'location = /metrics { apikey_metrics; }');
    is name_seen($nginx), 'status 503', 'no sentinel answers: 503';
    like $nginx->get('/metrics')->{body}, qr/^apikey_redis_timeouts_total 1$/m,
        '... by the timeout';
    $nginx->stop;
}

# --- -READONLY: no announcement; the demoted master's reply makes us ask again
{
    my $demoted = FakeRedis->start(
        evalsha => "-READONLY You can't write against a read only replica.\r\n");
    my $file = "$dir/ask";
    point_at($file, $demoted->port);
    my $sentinel = FakeRedis->start(sentinel_file => $file);
    my $nginx = ApikeyTest::Nginx->start(
        apikey_redis => "apikey_redis sentinel=" . $sentinel->address . " master=mymaster;",
        location => $location);

    is wait_for_name($nginx, 'status 503', 5), 'status 503',
        'a READONLY reply is a Redis failure: 503, never 401 or 403';
    # what the sentinel names next is read only if the module asks again
    sleep 0.3;
    point_at($file, $redis->port);
    is name_seen($nginx), 'status 503', 'one more failure: the check that meets READONLY';
    is wait_for_name($nginx, 'real', 1), 'real', 'READONLY: asked the sentinel again and moved';
    $nginx->stop;
}

# --- a real sentinel that requires its own password (requirepass)
{
    my $sdir = tempdir(CLEANUP => 1);
    my $sport = ApikeyTest::free_port();
    open my $f, '>', "$sdir/sentinel.conf" or die;
    print $f <<"EOF";
port $sport
bind 127.0.0.1
daemonize yes
pidfile $sdir/sentinel.pid
logfile $sdir/sentinel.log
dir $sdir
requirepass sentinel-s3cret
sentinel monitor mymaster 127.0.0.1 @{[ $redis->port ]} 1
EOF
    close $f;
    system('redis-server', "$sdir/sentinel.conf", '--sentinel') == 0 or die 'redis-sentinel failed';
    ApikeyTest::wait_for_port($sport) or die 'redis-sentinel not listening';
    my $sentinels = "sentinel=127.0.0.1:$sport master=mymaster";

    my $nginx = ApikeyTest::Nginx->start(
        apikey_redis => "apikey_redis $sentinels sentinel_password=sentinel-s3cret;",
        location => $location);
    is wait_for_name($nginx, 'real', 5), 'real', 'sentinel_password=: the sentinel names the master';
    $nginx->stop;

    for my $case (['', 'NOAUTH', 'no sentinel_password'],
                  [' sentinel_password=not-it', 'WRONGPASS', 'a wrong sentinel_password']) {
        my ($param, $error, $what) = @$case;
        $nginx = ApikeyTest::Nginx->start(apikey_redis => "apikey_redis $sentinels$param;",
                                          http => 'apikey_redis_timeout 300ms;', location => $location);
        is name_seen($nginx), 'status 503', "$what: 503";
        my @mine = grep { /apikey: / && /\Q127.0.0.1:$sport\E/ } split /\n/, $nginx->error_log;
        ok scalar(grep { /$error/ } @mine), "$what: the sentinel's $error is logged" or diag explain \@mine;
        unlike $nginx->error_log, qr/not-it/, '... never the password';
        $nginx->stop;
    }

    # a sentinel that takes the password but knows no such master: asked
    # again with backoff, not in a loop
    my $connections = sub {
        `REDISCLI_AUTH=sentinel-s3cret redis-cli -p $sport INFO stats` =~ /total_connections_received:(\d+)/;
        return $1 // 0;
    };
    my $before = $connections->();
    $nginx = ApikeyTest::Nginx->start(
        apikey_redis => "apikey_redis sentinel=127.0.0.1:$sport master=nosuch sentinel_password=sentinel-s3cret;",
        location => $location);
    sleep 2;
    $nginx->stop;
    my $made = $connections->() - $before - 1;
    cmp_ok $made, '<', 30, "an unknown master: $made connections to the sentinel in 2 s (backoff, no storm)";
    like $nginx->error_log, qr/does not know the master "nosuch"/, '... and it is logged';

    my ($status, $out, $err) = ApikeyTest::cli(
        { APIKEY_REDIS => $sentinels, APIKEY_SENTINEL_PASSWORD => 'sentinel-s3cret' }, 'list', '--json');
    is $status, 0, 'apikeyctl: APIKEY_SENTINEL_PASSWORD' or diag $err;
    like $out, qr/"name":"real"/, '... reaches the master the sentinel names';
    ($status, undef, $err) = ApikeyTest::cli({ APIKEY_REDIS => $sentinels }, 'list');
    is $status, 1, 'apikeyctl without it: exit status 1';
    like $err, qr/NOAUTH.*APIKEY_SENTINEL_PASSWORD/, '... saying the sentinel wants a password';

    open my $pidfile, '<', "$sdir/sentinel.pid" or die;
    kill 'TERM', 0 + <$pidfile>;
}

# --- apikeyctl with no sentinel that answers
{
    my ($status, undef, $err) = ApikeyTest::cli({ APIKEY_REDIS => 'sentinel=127.0.0.1:1,127.0.0.1:2 master=mymaster' },
                                               'list');
    is $status, 1, 'apikeyctl: no sentinel answers: exit status 1';
    like $err, qr/no sentinel could name the master "mymaster"/, '... with a clear message';
    ($status, undef, $err) = ApikeyTest::cli({ APIKEY_REDIS => 'sentinel=127.0.0.1:1' }, 'list');
    isnt $status, 0, 'apikeyctl: a sentinel address without master=';
    like $err, qr/needs master=NAME/, '... says what is missing';
    ($status, undef, $err) = ApikeyTest::cli({ APIKEY_REDIS => 'cluster=127.0.0.1:1' }, 'list');
    is $status, 1, 'apikeyctl: no cluster node answers: exit status 1';
    like $err, qr/no cluster node answered/, '... with a clear message';
    SKIP: {
        skip 'something listens on 127.0.0.1:6379', 1 if IO::Socket::INET->new('127.0.0.1:6379');
        (undef, undef, $err) = ApikeyTest::cli({ APIKEY_REDIS => 'cluster=127.0.0.1' }, 'list');
        like $err, qr/127\.0\.0\.1:6379/, 'apikeyctl: a cluster seed without a port means 6379, as for nginx';
    }
}

# --- configuration
for my $case (
    ['sentinel=127.0.0.1:26379', qr/needs "master=NAME"/, 'sentinel without master='],
    ['sentinel=127.0.0.1:26379 master=', qr/empty master name/, 'empty master name'],
    ['sentinel=127.0.0.1:26379,,127.0.0.1:1 master=m', qr/empty address/, 'empty address in a list'],
    ['cluster=127.0.0.1:7000 db=1', qr/Redis Cluster has only database 0/, 'db= on a cluster'],
    ['cluster=127.0.0.1:7000 master=m', qr/invalid parameter 2 of "apikey_redis"/, 'master= on a cluster'],
    ['127.0.0.1:6379 sentinel_password=x', qr/invalid parameter 2 of "apikey_redis"/, 'sentinel_password= without sentinels'],
    ['sentinel=127.0.0.1:26379 master=m sentinel_password=', qr/empty sentinel password/, 'empty sentinel password'],
    ['cluster=no.such.host.invalid:7000', qr/invalid redis address "no\.such\.host\.invalid:7000"/, 'unresolvable seed'],
) {
    my ($args, $error, $name) = @$case;
    my ($ok, $out) = ApikeyTest::Nginx->test_conf(apikey_redis => "apikey_redis $args;");
    ok !$ok, "nginx -t refuses: $name";
    like $out, $error, "... with a clear message: $name";
}
my ($ok, $out) = ApikeyTest::Nginx->test_conf(
    apikey_redis => 'apikey_redis sentinel=127.0.0.1:26379,localhost master=mymaster password=x db=2 sentinel_password=y;');
ok $ok, 'sentinel list with a default port, password=, db= and sentinel_password=' or diag $out;
($ok, $out) = ApikeyTest::Nginx->test_conf(
    apikey_redis => 'apikey_redis cluster=127.0.0.1:7000,127.0.0.1:7001 password=x prefix=t:;');
ok $ok, 'cluster seeds with password= and prefix=' or diag $out;

done_testing;
