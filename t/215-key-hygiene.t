# Key hygiene gauges of apikey_metrics: keys by status, expiring within 7 and
# 30 days, unused for 30 and 90 days, at 80% of a quota or of the credits. One worker counts them with SCAN soon
# after start and then at most once a minute; a scrape only reads the count.
use strict;
use warnings;
use lib 't/lib';
use File::Temp qw(tempdir);
use Test::More;
use Time::HiRes qw(sleep);
use ApikeyTest;

my $day = 86400;
my $redis = ApikeyTest::Redis->start;

sub key_with {
    my ($name, %fields) = @_;
    my $key = $redis->create_key(name => $name);
    $redis->cmd('HSET', "apikey:key:{$key->{id}}", %fields) if %fields;
    return $key;
}

# the keys, each named for what it is counted as
my $now = time;
key_with('active, fresh');
key_with('active, used today', last_used => $now - 3600);
key_with('active, expires in 3 days', expires => $now + 3 * $day, last_used => $now);
key_with('active, expires in 20 days', expires => $now + 20 * $day, last_used => $now);
key_with('active, expires in 60 days', expires => $now + 60 * $day, last_used => $now);
key_with('active, used 40 days ago', last_used => $now - 40 * $day);
key_with('active, used 100 days ago', last_used => $now - 100 * $day);
key_with('active, never used, created 95 days ago', created => $now - 95 * $day, last_used => 0);
key_with('expired', expires => $now - 60, last_used => $now - 100 * $day);
key_with('unknown status', status => 'paused');
my $disabled = key_with('disabled', last_used => $now - 100 * $day);
is +($redis->cli('disable', $disabled->{id}))[0], 0, 'a key disabled';
for my $i (1 .. 2) {
    my $revoked = key_with("revoked $i");
    is +($redis->cli('revoke', $revoked->{id}))[0], 0, "a key revoked ($i)";
}
# near their limit (issue 15): 80% or more of a quota this period, or of the
# credits granted; and keys that are not
use POSIX qw(strftime floor);
my $today = strftime('%Y%m%d', gmtime $now);
my $yesterday = strftime('%Y%m%d', gmtime($now - $day));
sub counts { my ($k, %c) = @_; $redis->cmd('HSET', "apikey:quota:{$k->{id}}", %c) }
counts(key_with('near: 8 of its 10/day', quota => '10/day'), 'default/day' => "$today:8");
counts(key_with("near: 9 of its plan's 10/day", plan => 'gold', plan_quota => '10/day'),
       'default/day' => "$today:9");
key_with('near: 1 credit left of 10', credits => 1, credits_granted => 10);
counts(key_with('not near: 9 of 10/day yesterday', quota => '10/day'), 'default/day' => "$yesterday:9");
key_with('not near: 5 credits left of 10', credits => 5, credits_granted => 10);
key_with('not near: out of credits, but a refill is due', credits => 0, credits_granted => 10,
         refill => '10/day', refilled => floor($now / $day) * $day - $day);
# not a key record: another prefix, and another type of the prefix's keys
$redis->cmd('HSET', 'other:key:{x}', 'status', 'active');
$redis->cmd('HSET', 'apikey:plan:gold', 'limits', '10r/s');

my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    workers => 2,
    location => 'apikey on;',
    server => 'location = /metrics { apikey_metrics; }');

sub scrape { $nginx->get('/metrics')->{body} }
sub sample {
    my ($body, $series) = @_;
    return $body =~ /^\Q$series\E (\S+)$/m ? $1 : undef;
}

my $body = ApikeyTest::poll_until(15, sub {
    my $b = scrape();
    defined sample($b, 'apikey_keys_counted_timestamp_seconds') ? $b : undef;
});
ok $body, 'the keys are counted soon after start' or BAIL_OUT('no count');

my %expect = (
    'apikey_keys{status="active"}'     => 14,
    'apikey_keys_near_limit'           => 3,
    'apikey_keys{status="expired"}'    => 1,
    'apikey_keys{status="disabled"}'   => 1,
    'apikey_keys{status="revoked"}'    => 2,
    'apikey_keys{status="unknown"}'    => 1,
    'apikey_keys_expiring{within="7d"}'  => 1,
    'apikey_keys_expiring{within="30d"}' => 2,
    'apikey_keys_unused{for="30d"}'    => 3,
    'apikey_keys_unused{for="90d"}'    => 2,
    'apikey_key_stats_runs_total{result="complete"}' => 1,
    'apikey_key_stats_runs_total{result="failed"}'   => 0,
);
for my $series (sort keys %expect) {
    is sample($body, $series), $expect{$series}, $series;
}
my $counted_at = sample($body, 'apikey_keys_counted_timestamp_seconds');
cmp_ok abs($counted_at - time), '<', 30, 'apikey_keys_counted_timestamp_seconds is the time of the count';
like $body, qr/^# TYPE apikey_keys gauge$/m, 'apikey_keys is a gauge';

# an outside check of the exposition format
SKIP: {
    skip 'promtool not installed (scripts/install-deps check)', 1 unless `which promtool` =~ /\S/;
    my $dir = tempdir(CLEANUP => 1);
    open my $f, '>', "$dir/metrics" or die;
    print $f $body;
    close $f;
    my $out = `promtool check metrics < $dir/metrics 2>&1`;
    is $?, 0, 'promtool check metrics accepts the exposition' or diag $out;
}

# one worker counted, with one SCAN (13 records fit in one page); scrapes and
# the workers' next looks (every 5 s) within the minute count nothing again
sub scans { $redis->cmd('INFO', 'commandstats') =~ /cmdstat_scan:calls=(\d+)/ ? $1 : 0 }
is scans(), 1, 'one SCAN: one worker counted, once';
$redis->cli('revoke', $disabled->{id});
scrape() for 1 .. 20;
sleep 6;
$body = scrape();
is scans(), 1, 'no SCAN per scrape, nor before a minute has passed';
is sample($body, 'apikey_keys_counted_timestamp_seconds'), $counted_at, '... the count shown is the same';
is sample($body, 'apikey_keys{status="revoked"}'), 2, '... with the figures it had';

unlike $nginx->error_log, qr/\[(alert|emerg|crit)\]/, 'error log: no alert, emerg or crit';

# a count that fails (Redis down when it is due) is tried again within
# seconds, not a minute later
my $down = ApikeyTest::Redis->start;
$down->stop;
my $late = ApikeyTest::Nginx->start(
    redis => $down,
    location => 'apikey on;',
    server => 'location = /metrics { apikey_metrics; }');
my $failed = ApikeyTest::poll_until(10, sub {
    my $b = $late->get('/metrics')->{body};
    (sample($b, 'apikey_key_stats_runs_total{result="failed"}') // 0) >= 1 ? $b : undef;
});
ok $failed, 'a count with Redis down is counted as failed';
ok !defined sample($failed, 'apikey_keys{status="active"}'), '... and no key gauge is shown before a count has ended';
$down->restart;
$down->create_key(name => 'after the outage');
my $recounted = ApikeyTest::poll_until(20, sub {
    my $b = $late->get('/metrics')->{body};
    defined sample($b, 'apikey_keys{status="active"}') ? $b : undef;
});
ok $recounted, 'counted again once Redis is back, well within the minute';
is sample($recounted // '', 'apikey_keys{status="active"}'), 1, '... with the key made meanwhile';

unlike $late->error_log, qr/\[(alert|emerg|crit)\]/, 'error log: no alert, emerg or crit';

done_testing;
