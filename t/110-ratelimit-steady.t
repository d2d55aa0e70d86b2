# A steady 5 requests/s for 12 s against 100r/m burst=10: the passes follow the
# bucket arithmetic (10 from the burst, then one per 0.6 s) within one.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(redis => $redis, location => 'apikey on;');
my $key = $redis->create_key(name => 'steady');

my $start = time;
my (@arrivals, $passed);
for my $i (0 .. 59) {
    my $due = $start + $i * 0.2;
    sleep($due - time) if $due > time;
    push @arrivals, int((time - $start) * 1e6);
    $passed++ if $nginx->get('/api/x', 'X-API-Key' => $key->{token})->{status} == 200;
}

# the same arrivals through the C++ bucket arithmetic
my $trace = ApikeyTest::root() . '/build/cmake/unit/bucket_trace';
my @lines = `$trace 600000 10 @{[map { $_ + 1_000_000_000 } @arrivals]}`;
my $expected = grep { /^1 / } @lines;
ok abs($passed - $expected) <= 1, "passes $passed, arithmetic says $expected (within 1)";
ok $expected >= 28 && $expected <= 30, "the arithmetic: 10 + 11.8 s / 0.6 s ($expected)";

$nginx->stop;
done_testing;
