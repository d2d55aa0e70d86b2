# Checks that nginx gave up on: Redis stopped (SIGSTOP) past apikey_redis_timeout,
# the requests got their 503, and the checks waited in Redis's socket buffer.
# When Redis runs them later, they are past the deadline the module gave them
# and change nothing: no token taken, no last_used written.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use ApikeyTest;
use FakeRedis;
use File::Temp qw(tempdir);

my $redis = ApikeyTest::Redis->start;
my $location = 'apikey on; apikey_redis_timeout 250ms; apikey_last_used_interval 1s;';
my $plain = ApikeyTest::Nginx->start(redis => $redis, location => $location);
my $cached = ApikeyTest::Nginx->start(redis => $redis, location => $location,
                                      http => 'apikey_cache zone=late:1m;');
sleep 0.5;   # the worker subscribes

# both of the script's modes: "check" (no cache) and "limit" (a cache hit)
for my $mode ('check', 'limit') {
    my $nginx = $mode eq 'check' ? $plain : $cached;
    my $path = $mode;
    my $key = $redis->create_key(name => "late $path", limits => ['5r/h:5']);
    my $record = "apikey:key:{$key->{id}}";
    my $res = $nginx->get('/api/x', 'X-API-Key' => $key->{token});
    is $res->{status}, 200, "$path: before the pause";
    is ApikeyTest::Nginx::header($res, 'RateLimit'), '"default";r=4;t=720', "$path: one token taken";
    my ($bucket) = split /\n/, $redis->cmd('KEYS', "apikey:bucket:{$key->{id}}:*");
    ok $bucket, "$path: the bucket is in Redis";
    my $last_used = $redis->cmd('HGET', $record, 'last_used');
    like $last_used, qr/^\d+$/, "$path: last_used written";
    my $remaining = 4;

    if ($mode eq 'limit') {
        $redis->cmd('CONFIG', 'RESETSTAT');
        is $nginx->get('/api/x', 'X-API-Key' => $key->{token})->{status}, 200, 'limit: a hit';
        is $redis->calls('hmget'), 0, 'limit: sanity: the record came from the cache';
        $remaining--;
    }

    $redis->cmd('CONFIG', 'RESETSTAT');
    my $tokens = $redis->cmd('GET', $bucket);
    # as the requests so far left it (the hit above may have crossed into the
    # next second, and written it then)
    $last_used = $redis->cmd('HGET', $record, 'last_used');
    sleep 1.1;   # a second on: last_used is due again by the interval
    kill 'STOP', $redis->pid;
    my @socks = map { $nginx->send_request('GET', '/api/x', 'X-API-Key' => $key->{token}) } 1 .. 3;
    is $nginx->read_response($_)->{status}, 503, "$path: 503 while Redis is stopped" for @socks;
    sleep 0.3;   # well past the deadline
    kill 'CONT', $redis->pid;

    # Redis runs what waited in its buffer
    my $t0 = time;
    sleep 0.02 until $redis->calls('evalsha') >= 3 || time - $t0 > 3;
    is $redis->calls('evalsha'), 3, "$path: Redis ran the three checks late";
    is $redis->cmd('GET', $bucket), $tokens, "$path: and they took no token";
    is $redis->cmd('HGET', $record, 'last_used'), $last_used, "$path: nor wrote last_used";

    $res = $nginx->get('/api/x', 'X-API-Key' => $key->{token});
    is $res->{status}, 200, "$path: answered again";
    like ApikeyTest::Nginx::header($res, 'RateLimit'), qr/^"default";r=@{[$remaining - 1]};t=\d+$/,
        "$path: the bucket is where the answered requests left it";
}

# a key whose every check so far came too late: its buckets are full (none
# stored) and it has never been used
{
    my $key = $redis->create_key(name => 'never answered', limits => ['5r/h:5']);
    $redis->cmd('CONFIG', 'RESETSTAT');
    kill 'STOP', $redis->pid;
    my @socks = map { $plain->send_request('GET', '/api/x', 'X-API-Key' => $key->{token}) } 1 .. 3;
    is $plain->read_response($_)->{status}, 503, 'fresh key: 503 while Redis is stopped' for @socks;
    sleep 0.3;
    kill 'CONT', $redis->pid;
    my $t0 = time;
    sleep 0.02 until $redis->calls('evalsha') >= 3 || time - $t0 > 3;
    is $redis->calls('evalsha'), 3, 'fresh key: Redis ran the three checks late';
    is $redis->cmd('KEYS', "apikey:bucket:{$key->{id}}:*"), '', 'fresh key: its buckets are full';
    is $redis->cmd('HGET', "apikey:key:{$key->{id}}", 'last_used'), '', 'fresh key: never used';
    my $res = $plain->get('/api/x', 'X-API-Key' => $key->{token});
    is ApikeyTest::Nginx::header($res, 'RateLimit'), '"default";r=4;t=720',
        'fresh key: its first answer takes the first token';
}

$_->stop for $plain, $cached;

# The deadline is on Redis's clock: here an hour ahead of nginx's. Before its
# first reply the worker assumes the clocks agree; from then on it shifts the
# deadline by the offset it learnt.
{
    my $dir = tempdir(CLEANUP => 1);
    my ($reply, $log) = ("$dir/reply", "$dir/log");
    my $put = sub { open my $f, '>', $reply or die; print $f $_[0]; close $f };
    $put->(FakeRedis::ok_reply(now => 'NOW_MS+3600000'));
    my $fake = FakeRedis->start(evalsha_file => $reply, log_file => $log);
    my $nginx = ApikeyTest::Nginx->start(redis_address => $fake->address,
                                         location => 'apikey on; apikey_limit off; apikey_redis_timeout 300ms;');
    my $token = with_checksum('ak_deadline1234_' . ('D' x 40));
    my $deadlines = sub {
        open my $f, '<', $log or return ();
        # EVALSHA sha 1 record check digest scopes superscopes interval deadline
        return map { (split / /)[9] } grep { /^EVALSHA / } map { chomp; $_ } <$f>;
    };

    my $t1 = time;
    is $nginx->get('/api/x', 'X-API-Key' => $token)->{status}, 200, 'skewed clock: first check';
    my $t2 = time;
    is $nginx->get('/api/x', 'X-API-Key' => $token)->{status}, 200, 'second check';
    my @d = $deadlines->();
    is scalar(@d), 2, 'two checks sent';
    my $first = $d[0] - $t1 * 1000;
    ok $first > 0 && $first < 1300, "the first deadline: nginx's clock + 300ms ($first ms)";
    my $second = $d[1] - $t2 * 1000 - 3600000;
    ok $second > 0 && $second < 1300,
        "the next: Redis's clock (an hour ahead) + 300ms ($second ms from it)";

    # a check still waited for that Redis calls late (clocks that disagree
    # beyond what was learnt): refused as unavailable, said in the log
    $put->("*2\r\n\$4\r\nlate\r\n:NOW_MS\r\n");
    my $res = $nginx->get('/api/x', 'X-API-Key' => $token);
    is $res->{status}, 503, 'a late reply to a check still waited for: 503';
    like $res->{body}, qr/auth_unavailable/, 'auth_unavailable';
    like $nginx->error_log, qr/\[error\].*redis ran the check after its deadline/,
        'logged as a clock disagreement';
    $put->(FakeRedis::ok_reply());
    is $nginx->get('/api/x', 'X-API-Key' => $token)->{status}, 200, 'and the next is answered';
    $nginx->stop;
    $fake->stop;
}

done_testing;
