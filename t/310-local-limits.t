# apikey_limit ... store=local: token buckets in nginx shared memory, shared by
# every worker, with no Redis round trip for the limit (and, with apikey_cache,
# none at all).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use ApikeyTest;

my $H = \&ApikeyTest::Nginx::header;
my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    workers => 2,
    http => "apikey_cache zone=apikeys:1m;\n    apikey_local_limits zone=buckets:1m;",
    location => 'apikey on; apikey_limit 100r/m burst=10 store=local;',
    server => <<'EOF',
        location /nocache/ {
            apikey on;
            apikey_limit 100r/m burst=10 store=local;
            apikey_limit 5r/m burst=5 bucket=export store=local;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
EOF
);
ok poll_until(30, sub { $redis->subscribers >= 2 }), 'both workers subscribed to invalidations';

my $key = $redis->create_key(name => 'local');
# one request to fill the (shared) cache: concurrent first requests would all
# miss it, each asking Redis once for the record
is $nginx->get('/api/x', 'X-API-Key' => $key->{token})->{status}, 200, 'a first request';
$redis->cmd('CONFIG', 'RESETSTAT');
my $burst_at = time;
my @res = $nginx->parallel(20, 'GET', '/api/x', 'X-API-Key' => $key->{token});
is scalar(grep { $_->{status} == 200 } @res), 9, 'exactly the 9 tokens left pass of 20 at once, across two workers';
my @limited = grep { $_->{status} == 429 } @res;
is scalar(@limited), 11, 'the rest are 429';
ok $H->($limited[0], 'Retry-After') >= 1, 'with Retry-After';
is((json_of($limited[0]{body}) // {})->{error}, 'rate_limited', 'and the JSON body');
is $H->($res[0], 'RateLimit-Policy'), '"default";q=10;w=6', 'RateLimit headers as with Redis';
is $H->($limited[0], 'RateLimit'), "\"default\";r=0;t=" . $H->($limited[0], 'Retry-After'),
    'RateLimit on a 429: nothing left, t is Retry-After';
is $redis->calls('evalsha'), 0, 'no Redis round trip at all (cache hit, local buckets)';
is $redis->cmd('KEYS', 'apikey:bucket:*'), '', 'and no bucket state in Redis';

sleep($burst_at + 1 - time) if $burst_at + 1 > time;
is $nginx->get('/api/x', 'X-API-Key' => $key->{token})->{status}, 200, 'refilled after Retry-After';

# a key's own limits apply locally too
my $paid = $redis->create_key(name => 'paid', limits => ['600r/m:50']);
is scalar(grep { $_->{status} == 200 } $nginx->parallel(40, 'GET', '/api/x', 'X-API-Key' => $paid->{token})),
    40, 'own limit 600r/m:50: 40 at once';

# without the cache: the record from Redis, the buckets still local; several sets
my $k2 = $redis->create_key(name => 'exporter');
my @r2 = $nginx->parallel(8, 'GET', '/nocache/x', 'X-API-Key' => $k2->{token});
is scalar(grep { $_->{status} == 200 } @r2), 5, 'the tighter local bucket decides';
my $r2 = $nginx->get('/nocache/x', 'X-API-Key' => $k2->{token});
is $H->($r2, 'RateLimit-Policy'), '"default";q=10;w=6, "export";q=5;w=60',
    'both buckets in the policy, by set name';
like $H->($r2, 'RateLimit'), qr/^"export";r=0;t=\d+$/, 'RateLimit: the refusing one';

$nginx->stop;

for my $c (
    ['store=local without a zone', 'apikey on; apikey_limit 1r/s store=local;', '',
     qr/needs "apikey_local_limits zone=NAME:SIZE"/],
    ['mixed stores', 'apikey on; apikey_limit 1r/s store=local; apikey_limit 2r/s;',
     'apikey_local_limits zone=b:1m;', qr/must all use the same store/],
    ['bad store', 'apikey on; apikey_limit 1r/s store=disk;', '', qr/invalid store "store=disk"/],
) {
    my ($what, $loc, $http, $re) = @$c;
    my ($ok, $out) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379',
                                                  location => $loc, http => $http);
    ok !$ok, "refused: $what";
    like $out, $re, "message: $what";
}

done_testing;
