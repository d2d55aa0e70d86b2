# apikey_limit lines: several buckets, off, per-location buckets, keys with
# their own limits; and a Redis that loses its data mid-way.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use ApikeyTest;

my $H = \&ApikeyTest::Nginx::header;
my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    http => 'apikey_ratelimit_headers legacy;',   # the draft-06 fields; t/115: the current draft's
    location => 'apikey on;',
    server => <<'EOF',
        location /multi/ {
            apikey on;
            apikey_limit 100r/s burst=100;
            apikey_limit 5r/m burst=5;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /unlimited/ {
            apikey on;
            apikey_limit off;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /export/ {
            apikey on;
            apikey_limit 100r/m burst=10;
            apikey_limit 2r/m burst=2 bucket=export;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
EOF
);

sub passes {
    my ($n, $path, $token) = @_;
    return scalar grep { $_->{status} == 200 } $nginx->parallel($n, 'GET', $path, 'X-API-Key' => $token);
}

# several lines: a request takes a token from every bucket
my $k1 = $redis->create_key(name => 'multi');
is passes(8, '/multi/x', $k1->{token}), 5, 'the tighter of two buckets decides';
my $r = $nginx->get('/multi/x', 'X-API-Key' => $k1->{token});
is $r->{status}, 429, 'refused by the 5r/m bucket';
is $H->($r, 'RateLimit-Limit'), 5, 'headers report the refusing bucket';
ok $H->($r, 'Retry-After') >= 11, 'Retry-After from the 5r/m bucket (12 s per token)';
is $H->($r, 'RateLimit-Policy'), '100;w=1, 5;w=60', 'RateLimit-Policy lists both';
like $redis->cmd('GET', "apikey:bucket:{$k1->{id}}:default"), qr/^10000:100:\d+ 12000000:5:\d+$/,
    'both buckets in one small key';

# off: no bucket, no headers
my $k2 = $redis->create_key(name => 'unlimited');
is passes(30, '/unlimited/x', $k2->{token}), 30, 'apikey_limit off: no limit';
ok !defined $H->($nginx->get('/unlimited/x', 'X-API-Key' => $k2->{token}), 'RateLimit-Limit'),
    'and no RateLimit headers';
is $redis->cmd('EXISTS', "apikey:bucket:{$k2->{id}}:default"), '0', 'and no state';

# a bucket of its own for an expensive endpoint; the key-wide bucket is shared
my $k3 = $redis->create_key(name => 'exporter');
is passes(4, '/export/x', $k3->{token}), 2, 'export bucket: 2';
is passes(12, '/api/x', $k3->{token}), 8, 'key-wide bucket was shared: 10 - 2 used by export';
is $redis->cmd('EXISTS', "apikey:bucket:{$k3->{id}}:export"), '1', 'state of the export bucket';

# a key's own limits replace the key-wide lines
my $k4 = $redis->create_key(name => 'paid tier', limits => ['600r/m:50']);
is passes(40, '/api/x', $k4->{token}), 40, 'own limit 600r/m:50: 40 at once pass';
is $H->($nginx->get('/api/x', 'X-API-Key' => $k4->{token}), 'RateLimit-Limit'), 50,
    'headers show the own limit';
my $k5 = $redis->create_key(name => 'batch', limits => ['2r/m:2']);
is passes(5, '/api/x', $k5->{token}), 2, 'an own limit may be tighter too';
is passes(5, '/export/x', $k5->{token}), 0, 'own limits replace the key-wide lines in every location';
my $k6 = $redis->create_key(name => 'paid exporter', limits => ['6000r/m:100']);
is passes(5, '/export/x', $k6->{token}), 2, 'but a location bucket still applies';

# changed with apikeyctl update, effective on the next request
$redis->cli('update', $k5->{id}, '--limit', '600r/m:30');
is passes(20, '/api/x', $k5->{token}), 20, 'update --limit takes effect at once';
$redis->cli('update', $k5->{id}, '--no-limits');
is $H->($nginx->get('/api/x', 'X-API-Key' => $k5->{token}), 'RateLimit-Limit'), 10,
    'update --no-limits: back to the configured bucket';

# Redis restarted without its data mid-way: no crash; keys and buckets are gone
# with it (documented), and everything works again once keys exist
my $k7 = $redis->create_key(name => 'restart');
is passes(12, '/api/x', $k7->{token}), 10, 'before the restart';
$redis->restart;
my $status = 503;
# the worker reconnects within its backoff (at most 500 ms)
poll_until(10, sub { ($status = $nginx->get('/api/x', 'X-API-Key' => $k7->{token})->{status}) != 503 });
is $status, 401, 'the key went with the data';
my $k8 = $redis->create_key(name => 'after');
is passes(12, '/api/x', $k8->{token}), 10, 'limits hold again after the restart';

$nginx->stop;
done_testing;
