# Last use: kept in Redis without a write per request (at most one per key per
# apikey_last_used_interval), shown by apikeyctl, and used to find idle keys.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;

# Waits until Redis's clock reads at least $t (seconds).
sub redis_clock_past {
    my ($t) = @_;
    ok poll_until(30, sub { (split /\n/, $redis->cmd('TIME'))[0] >= $t }), "Redis's clock reached $t";
}

my $nginx = ApikeyTest::Nginx->start(redis => $redis,
                                     location => 'apikey on; apikey_last_used_interval 2s; apikey_limit off;');
my $key = $redis->create_key(name => 'busy');
my $idle = $redis->create_key(name => 'idle');

is json_of(($redis->cli('show', $key->{id}, '--json'))[1])->{last_used_at}, undef, 'never used yet';

$redis->cmd('CONFIG', 'RESETSTAT');
my @res = $nginx->parallel(30, 'GET', '/api/x', 'X-API-Key' => $key->{token});
is scalar(grep { $_->{status} == 200 } @res), 30, 'a burst of 30';
is $redis->calls('hset'), 1, 'last use written once for the whole burst';
my $first = $redis->cmd('HGET', "apikey:key:{$key->{id}}", 'last_used');
like $first, qr/^\d+$/, 'last_used in the record';

$nginx->get('/api/x', 'X-API-Key' => $key->{token}) for 1 .. 5;
is $redis->calls('hset'), 1, 'still once within the interval';
redis_clock_past($first + 2);   # the interval, by Redis's clock (the script's)
$nginx->get('/api/x', 'X-API-Key' => $key->{token}) for 1 .. 5;
is $redis->calls('hset'), 2, 'once more after the interval';

my $shown = json_of(($redis->cli('show', $key->{id}, '--json'))[1]);
like $shown->{last_used_at}, qr/^\d{4}-\d\d-\d\dT/, 'apikeyctl show: last_used_at';
my (undef, $table) = $redis->cli('list');
like $table, qr/busy\s.*just now/, 'apikeyctl list: LAST USED column';
like $table, qr/idle\s.*never/, 'never used: "never"';

# finding keys to delete: make the idle key look old, the busy one recently used
$redis->cmd('HSET', "apikey:key:{$idle->{id}}", 'created', time - 40 * 86400);
my $old = $redis->create_key(name => 'used long ago');
$redis->cmd('HSET', "apikey:key:{$old->{id}}", 'created', time - 90 * 86400, 'last_used', time - 35 * 86400);
my (undef, $out) = $redis->cli('list', '--unused-since', '30d', '--json');
is_deeply [sort map { $_->{name} } @{ json_of($out) }], ['idle', 'used long ago'],
    'list --unused-since 30d: never used and old, or last used long ago';

$nginx->stop;

# with apikey_cache the hits skip the check script: the cache entry decides when
# last use is written (EVAL with limits off; inside the limit script with Redis
# limits), still at most once per interval, and written at all
{
    my $cached = ApikeyTest::Nginx->start(
        redis => $redis,
        http => 'apikey_cache zone=lastused:1m;',
        location => 'apikey on; apikey_last_used_interval 2s; apikey_limit off;',
        server => <<'EOF',
        location /limited/ {
            apikey on;
            apikey_last_used_interval 2s;
            apikey_limit 6000r/m burst=100;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
EOF
    );
    # the worker subscribes to invalidations; until then there is no cache
    ok poll_until(30, sub { $redis->subscribers >= 1 }), 'the worker subscribed to invalidations';

    for my $path ('/api/x', '/limited/x') {
        my $k = $redis->create_key(name => "cached $path");
        my $field = sub { $redis->cmd('HGET', "apikey:key:{$k->{id}}", 'last_used') };
        is $field->(), '', "$path: no last_used before the first request";

        $redis->cmd('CONFIG', 'RESETSTAT');
        my @burst = $cached->parallel(30, 'GET', $path, 'X-API-Key' => $k->{token});
        is scalar(grep { $_->{status} == 200 } @burst), 30, "$path: a burst of 30";
        is $redis->calls('hset'), 1, "$path: last use written once for the whole burst";
        my $first = $field->();
        like $first, qr/^\d+$/, "$path: last_used written";

        $redis->cmd('CONFIG', 'RESETSTAT');
        $cached->get($path, 'X-API-Key' => $k->{token}) for 1 .. 5;
        is $redis->calls('hmget'), 0, "$path: sanity: these were cache hits (no record read)";
        is $redis->calls('hset'), 0, "$path: no write within the interval";

        redis_clock_past($first + 2);   # the interval (the cache decides by nginx's clock, the same host's)
        $cached->get($path, 'X-API-Key' => $k->{token}) for 1 .. 5;
        is $redis->calls('hmget'), 0, "$path: sanity: still cache hits";
        is $redis->calls('hset'), 1, "$path: written once more after the interval";
        cmp_ok $field->(), '>=', $first + 2, "$path: last_used moved on by the interval";
    }
    $cached->stop;
}

done_testing;
