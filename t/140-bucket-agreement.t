# The Lua script in Redis and the C++ core do the same bucket arithmetic: the
# same arrivals give the same decisions, token counts and times, to the microsecond.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $root = ApikeyTest::root();
my $script = `$root/build/cmake/unit/print_script`;
ok length $script, 'the script the module loads';
my $sha = $redis->cmd('SCRIPT', 'LOAD', $script);
like $sha, qr/^[0-9a-f]{40}$/, 'loaded';

srand(42);
my @cases = (
    [600000, 10],            # 100r/m burst=10
    [1000, 1],               # 1000r/s, no burst
    [142857, 7],             # 7r/s: a fractional interval, floored
    [86400000000, 10000],    # 1r/d with a big bucket
    [1, 1000000],            # the fastest rate, the biggest burst
);
for my $case (@cases) {
    my ($interval, $burst) = @$case;
    for my $run (1 .. 4) {
        my $t = 1_700_000_000_000_000 + int(rand(1e9));
        my @arrivals;
        for (1 .. 150) {
            # bursts, gaps around the interval, long idles
            my $r = rand;
            $t += $r < 0.4 ? 0 : $r < 0.8 ? int(rand(2 * $interval)) : int(rand(50 * $interval));
            push @arrivals, $t;
        }
        my @lua = split /\n/, $redis->cmd('EVALSHA', $sha, 0, 'trace', $interval, $burst, @arrivals);
        my @lua_rows;
        push @lua_rows, join(' ', splice(@lua, 0, 5)) while @lua;
        my @cpp = map { chomp; $_ } `$root/build/cmake/unit/bucket_trace $interval $burst @arrivals`;
        is_deeply \@lua_rows, \@cpp, "interval $interval us, burst $burst, run $run: identical";
    }
}

done_testing;
