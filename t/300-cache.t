# apikey_cache: records in shared memory, negative entries for unknown tokens,
# invalidation over pub/sub within a second, and no cache at all while the
# subscription is down.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    workers => 2,
    http => 'apikey_cache zone=apikeys:1m ttl=60s;',
    location => 'apikey on; apikey_scope read GET;',
    server => <<'EOF',
        location /nolimit/ {
            apikey on;
            apikey_limit off;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
EOF
);
ok poll_until(30, sub { $redis->subscribers >= 2 }), 'both workers subscribed to invalidations';

sub st { $nginx->get($_[0], 'X-API-Key' => $_[1])->{status} }

# Polls until the request gets $want. The cache keeps entries 60 s (ttl=60s
# above): a change seen within these 10 s was told by the invalidation
# message, not by an entry that aged out.
sub within_a_second {
    my ($path, $token, $want) = @_;
    my $t0 = time;
    my $got;
    poll_until(10, sub { ($got = st($path, $token)) == $want });
    return ($got, time - $t0);
}

my $key = $redis->create_key(name => 'cached', scopes => ['read']);
my $T = $key->{token};

# hits need no record read; with limits off, no Redis at all
$redis->cmd('CONFIG', 'RESETSTAT');
is st('/nolimit/x', $T), 200, 'first request: a miss';
is st('/nolimit/x', $T), 200, 'then hits' for 1 .. 10;
is $redis->calls('evalsha'), 1, 'limits off: one round trip, then none';
is $redis->calls('hmget'), 1, 'the record was read once';

$redis->cmd('CONFIG', 'RESETSTAT');
is st('/api/x', $T), 200, 'with Redis limits' for 1 .. 5;
is $redis->calls('hmget'), 0, 'the cached record is not read again';
is $redis->calls('evalsha'), 5, 'only the buckets: one cheap round trip each';
my $r = $nginx->get('/api/x', 'X-API-Key' => $T);
like ApikeyTest::Nginx::header($r, 'RateLimit'), qr/^"default";r=4;t=\d+$/, 'and the limit holds (10 - 6)';

# scopes, expiry and status are decided from the cache the way the script would
{
    my $res = $nginx->request('POST', '/api/x', 'X-API-Key' => $T);
    is $res->{status}, 403, 'POST, which no line names, needs a superscope: from the cache too';
    is json_of($res->{body})->{required_scope}, 'apikey:unlisted-method', '... apikey:unlisted-method';
}
my $noscope = $redis->create_key(name => 'no scope');
is st('/api/x', $noscope->{token}), 403, 'miss: 403';
is st('/api/x', $noscope->{token}), 403, 'hit: 403 as well';

# negative entries: an unknown well-formed token costs one round trip
my $unknown = with_checksum('ak_zzzzzzzzzzzz_' . ('Q' x 40));
$redis->cmd('CONFIG', 'RESETSTAT');
is st('/api/x', $unknown), 401, 'unknown token: 401' for 1 .. 10;
is $redis->calls('evalsha'), 1, 'after the first miss, the negative entry answers';

# changes through apikeyctl are seen within a second
my ($got, $took);
$redis->cli('revoke', $key->{id});
($got, $took) = within_a_second('/nolimit/x', $T, 401);
is $got, 401, sprintf('revoke with the cache on: refused, by the invalidation (%.2f s)', $took);

my $k2 = $redis->create_key(name => 'rotating', scopes => ['read']);
is st('/nolimit/x', $k2->{token}), 200, 'cached' for 1 .. 2;
my (undef, $out) = $redis->cli('rotate', $k2->{id}, '--json');
($got, $took) = within_a_second('/nolimit/x', $k2->{token}, 401);
is $got, 401, 'rotated-away token: refused within a second';
is st('/nolimit/x', json_of($out)->{token}), 200, 'the new one works';

is st('/api/x', $noscope->{token}), 403, 'cached 403';
$redis->cli('update', $noscope->{id}, '--scope', 'read');
($got, $took) = within_a_second('/api/x', $noscope->{token}, 200);
is $got, 200, 'a scope added: allowed within a second';

$redis->cli('delete', $noscope->{id});
($got) = within_a_second('/api/x', $noscope->{token}, 401);
is $got, 401, 'deleted: refused within a second';

# the subscription lost: the cache is not used until it is back
my $k3 = $redis->create_key(name => 'during outage', scopes => ['read']);
is st('/nolimit/x', $k3->{token}), 200, 'cached' for 1 .. 3;
$redis->cmd('ACL', 'SETUSER', 'default', 'resetchannels');   # kills the subscribers
# Redis dropped both subscribers; the workers see their connection close and
# stop trusting the cache: every request reads the record again
ok poll_until(10, sub { $redis->subscribers == 0 }), 'the subscriptions are gone';
ok poll_until(10, sub {
    $redis->cmd('CONFIG', 'RESETSTAT');
    st('/nolimit/x', $k3->{token}) for 1 .. 4;
    $redis->calls('hmget') == 4;
}), 'the workers lost their subscription and stopped using the cache';
$redis->cmd('CONFIG', 'RESETSTAT');
is st('/nolimit/x', $k3->{token}), 200, 'no subscription: still answered' for 1 .. 3;
is $redis->calls('hmget'), 3, 'but from Redis, every time';
$redis->cmd('HSET', "apikey:key:{$k3->{id}}", 'status', 'revoked');   # no message sent
is st('/nolimit/x', $k3->{token}), 401, 'a change nobody announced is seen at once';
$redis->cmd('HSET', "apikey:key:{$k3->{id}}", 'status', 'active');

# refusals are logged once a second: wait for one
ok poll_until(10, sub { $nginx->error_log =~ /lost the redis connection .*NOPERM|the subscription to invalidations at .* was not confirmed/ }),
    'the refused subscription is logged';
$redis->cmd('ACL', 'SETUSER', 'default', 'allchannels');
# resubscribing: backoff, then the confirmation; one miss per worker at most
my $back = poll_until(30, sub {
    $redis->cmd('CONFIG', 'RESETSTAT');
    st('/nolimit/x', $k3->{token}) for 1 .. 4;
    $redis->calls('hmget') <= 2;
});
ok $back, 'the subscription came back, and with it the cache';
$redis->cli('revoke', $k3->{id});
($got, $took) = within_a_second('/nolimit/x', $k3->{token}, 401);
is $got, 401, 'and invalidations work again';

# hiredis 0.14 drops a connection whose SUBSCRIBE is refused (and says why);
# newer versions leave it to the module's one-second deadline
like $nginx->error_log,
    qr/\[error\].*(lost the redis connection .*NOPERM|the subscription to invalidations at .* was not confirmed)/,
    'the refused subscription was logged';

$nginx->stop;

my ($ok, $msg) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379',
                                              http => 'apikey_cache ttl=1s;');
ok !$ok, 'apikey_cache without zone=';
like $msg, qr/must have "zone" parameter/, 'with a clear message';

done_testing;
