# Last use: kept in Redis without a write per request (at most one per key per
# apikey_last_used_interval), shown by apikeyctl, and used to find idle keys.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
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
sleep 2.1;
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
done_testing;
