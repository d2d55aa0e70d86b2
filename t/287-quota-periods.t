# Calendar quotas count in UTC days, weeks (Monday to Sunday) and months. Three
# implementations must agree on every period's start, end and first day: the
# check script's (Lua, in Redis: it counts), the C++ core's (quota.hpp: apikeyctl
# and the module) and Perl's gmtime/timegm here, the outsider. The times are the
# edges: month and year ends, leap days, Sundays and Mondays at midnight and a
# second before, the epoch, and random ones.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX qw(floor strftime);
use Time::Local qw(timegm);
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $root = ApikeyTest::root();
my $script = `$root/build/cmake/unit/print_script`;
my $sha = $redis->cmd('SCRIPT', 'LOAD', $script);
like $sha, qr/^[0-9a-f]{40}$/, 'the script the module loads';

my @times = (0, 86399, 86400, 4 * 86400 - 1, 4 * 86400);   # 1970-01-05 was a Monday
for my $ymd ([2024, 2, 29], [2024, 3, 1], [2100, 3, 1], [2000, 2, 29], [2026, 12, 31],
             [2027, 1, 1], [2026, 11, 30], [2026, 12, 7], [2028, 2, 29], [2038, 1, 19]) {
    my $t = timegm(0, 0, 0, $ymd->[2], $ymd->[1] - 1, $ymd->[0]);
    push @times, $t - 1, $t, $t + 1, $t + 86399;
}
srand 15;
push @times, map { int rand(4102444800) } 1 .. 200;   # up to 2100

# Perl's view: the day from gmtime; Monday-based weeks; months by timegm
sub perl_periods {
    my ($t) = @_;
    my $day = floor($t / 86400) * 86400;
    my @g = gmtime $t;
    my $monday = $day - (($g[6] + 6) % 7) * 86400;
    my $month = timegm(0, 0, 0, 1, $g[4], $g[5] + 1900);
    my $next_month = $g[4] == 11 ? timegm(0, 0, 0, 1, 0, $g[5] + 1901)
                                 : timegm(0, 0, 0, 1, $g[4] + 1, $g[5] + 1900);
    my $first = sub { strftime('%Y%m%d', gmtime $_[0]) };
    return join ' ', $t, $day, $day + 86400, $first->($day), $monday, $monday + 7 * 86400,
                     $first->($monday), $month, $next_month, $first->($month);
}

my @cpp = map { chomp; $_ } `$root/build/cmake/unit/quota_trace @times`;
is $?, 0, 'quota_trace ran';
my @flat = split /\n/, $redis->cmd('EVALSHA', $sha, 0, 'periods', @times);
my ($disagree, $n) = (0, 0);
for my $i (0 .. $#times) {
    my $lua = join ' ', $times[$i], @flat[9 * $i .. 9 * $i + 8];
    my $perl = perl_periods($times[$i]);
    $n++;
    next if $lua eq $perl && ($cpp[$i] // '') eq $perl;
    $disagree++;
    diag "t=$times[$i]\n  perl $perl\n  lua  $lua\n  c++  " . ($cpp[$i] // 'none') if $disagree <= 5;
}
is $n, scalar @times, "$n times compared";
is $disagree, 0, 'Lua, C++ and Perl agree on every day, week and month';

done_testing;
