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
    is ApikeyTest::Nginx::header($res, 'RateLimit-Remaining'), 4, "$path: one token taken";
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
    is ApikeyTest::Nginx::header($res, 'RateLimit-Remaining'), $remaining - 1,
        "$path: the bucket is where the answered requests left it";
}

$_->stop for $plain, $cached;
done_testing;
