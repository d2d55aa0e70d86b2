# apikey_cache in a zone far smaller than the keys in use: entries are found
# through the hash table's chains (many entries share a bucket here), the cold
# end is evicted to make room, and every answer stays right: hits for the
# recent keys, Redis for the evicted ones, and a revoke still reaches an entry
# in the middle of a chain.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    http => 'apikey_cache zone=tiny:32k ttl=60s;',
    location => 'apikey on; apikey_limit off;');
ok poll_until(30, sub { $redis->subscribers >= 1 }), 'the worker subscribed to invalidations';

sub st { $nginx->get('/api/x', 'X-API-Key' => $_[0]{token})->{status} }

my @keys = map { $redis->create_key(name => "k$_") } 1 .. 150;
my @first = map { st($_) } @keys;
is scalar(grep { $_ == 200 } @first), 150, '150 keys in a 32k zone: every one passes';

# the most recent few are still cached: no record read for them
my @recent = @keys[-8 .. -1];
$redis->cmd('CONFIG', 'RESETSTAT');
is_deeply [ map { st($_) } @recent ], [ (200) x 8 ], 'the last 8 again: 200';
is $redis->calls('hmget'), 0, '... from the cache (found through their chains)';

# the oldest were evicted to make room: Redis answers for them, rightly
$redis->cmd('CONFIG', 'RESETSTAT');
is_deeply [ map { st($_) } @keys[0 .. 7] ], [ (200) x 8 ], 'the first 8 again: 200';
cmp_ok $redis->calls('hmget'), '>=', 1, '... read from Redis again (evicted)';

# a revoke drops an entry wherever it sits in its chain
my $victim = $recent[3];
is +($redis->cli('revoke', $victim->{id}))[0], 0, 'apikeyctl revoke';
ok poll_until(5, sub { st($victim) == 401 }), 'the revoked key is refused within the invalidation';
is_deeply [ map { st($_) } grep { $_ != $victim } @recent ], [ (200) x 7 ],
    '... and the keys beside it still pass';

# and the whole set once more: nothing lost, nothing confused
my @again = map { st($_) } @keys;
is scalar(grep { $_ == 200 } @again), 149, 'all but the revoked key pass';
is scalar(grep { $_ == 401 } @again), 1, 'and the revoked one is 401';

$nginx->check_logs;
done_testing;
