# apikey_metrics: Prometheus text, counters summed across workers, checked
# against the requests sent; a real scrape over HTTP.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    workers => 2,
    location => 'apikey on; apikey_scope read;',
    server => <<'EOF',
        location = /metrics {
            allow 127.0.0.1;
            deny all;
            apikey_metrics;
        }
        location = /metrics-closed {
            deny all;
            apikey_metrics;
        }
EOF
);

sub scrape {
    my $res = $nginx->get('/metrics');
    my %m;
    for (split /\n/, $res->{body}) {
        next if /^#/;
        my ($name, $value) = /^(\S+) (\S+)$/ or next;
        $m{$name} = $value;
    }
    return ($res, \%m);
}

my ($res0, $before) = scrape();
is $res0->{status}, 200, 'scrape: 200';
like ApikeyTest::Nginx::header($res0, 'Content-Type'), qr{^text/plain; version=0\.0\.4}, 'exposition format';
like $res0->{body}, qr/^# TYPE apikey_requests_total counter$/m, 'TYPE lines';
like $res0->{body}, qr/^# HELP apikey_redis_round_trip_seconds /m, 'HELP lines';

my $reader = $redis->create_key(name => 'reader', scopes => ['read']);
my $other = $redis->create_key(name => 'other');
my $revoked = $redis->create_key(name => 'revoked', scopes => ['read']);
$redis->cli('revoke', $revoked->{id});
my $expired = $redis->create_key(name => 'expired', scopes => ['read']);
$redis->cmd('HSET', "apikey:key:{$expired->{id}}", 'expires', time - 60);   # expired a minute ago

my %sent = (ok => 0, missing => 0, malformed => 0, invalid => 0, revoked => 0, expired => 0,
            forbidden => 0, limited => 0);
for (1 .. 12) {   # 10 pass, then the bucket is empty
    my $st = $nginx->get('/api/x', 'X-API-Key' => $reader->{token})->{status};
    $sent{$st == 200 ? 'ok' : 'limited'}++;
}
$nginx->get('/api/x') && $sent{missing}++ for 1 .. 3;
$nginx->get('/api/x', 'X-API-Key' => 'nope') && $sent{malformed}++ for 1 .. 4;
$nginx->get('/api/x', 'X-API-Key' => with_checksum('ak_zzzzzzzzzzzz_' . ('A' x 40))) && $sent{invalid}++ for 1 .. 2;
$nginx->get('/api/x', 'X-API-Key' => $revoked->{token}) && $sent{revoked}++;
$nginx->get('/api/x', 'X-API-Key' => $expired->{token})->{status} == 401 && $sent{expired}++;
$nginx->get('/api/x', 'X-API-Key' => $other->{token}) && $sent{forbidden}++ for 1 .. 2;
is $sent{ok}, 10, 'sanity: 10 passed';

my (undef, $after) = scrape();
for my $result (sort keys %sent) {
    my $name = qq{apikey_requests_total{result="$result"}};
    is $after->{$name} - ($before->{$name} // 0), $sent{$result}, "requests_total $result";
}
is $sent{expired}, 1, 'sanity: the expired key was refused';
my $round_trips = $sent{ok} + $sent{limited} + $sent{invalid} + $sent{revoked} + $sent{expired}
                + $sent{forbidden};
is $after->{apikey_redis_round_trips_total} - $before->{apikey_redis_round_trips_total},
    $round_trips, 'one round trip per request that needed Redis, none for the others';
is $after->{apikey_redis_round_trip_seconds_count} - $before->{apikey_redis_round_trip_seconds_count},
    $round_trips, 'the histogram counted each';
ok $after->{apikey_redis_round_trip_seconds_sum} > 0, 'and their time';
is $after->{'apikey_redis_round_trip_seconds_bucket{le="+Inf"}'},
   $after->{apikey_redis_round_trip_seconds_count}, '+Inf bucket equals the count';
is $after->{apikey_checks_in_flight}, 0, 'nothing in flight now';

sub grew {
    my ($from, $to, $name) = @_;
    return ($to->{$name} // 0) - ($from->{$name} // 0);
}

# Redis faults show up too. An error reply: a key of the wrong type where the
# bucket lives (WRONGTYPE)
my $broken = $redis->create_key(name => 'broken', scopes => ['read']);
$redis->cmd('HSET', "apikey:bucket:{$broken->{id}}:default", 'x', 'y');
is $nginx->get('/api/x', 'X-API-Key' => $broken->{token})->{status}, 503, 'sanity: WRONGTYPE is 503';
my (undef, $errored) = scrape();
is grew($after, $errored, 'apikey_redis_errors_total'), 1, 'redis_errors_total counts the error reply';
is grew($after, $errored, 'apikey_redis_timeouts_total'), 0, 'it was no timeout';
is grew($after, $errored, 'apikey_requests_total{result="error"}'), 1, 'requests_total error';

# a stall: Redis paused for longer than the timeout (200ms by default)
kill 'STOP', $redis->pid;
my $stalled = $nginx->get('/api/x', 'X-API-Key' => $reader->{token});
my (undef, $timed_out) = scrape();
kill 'CONT', $redis->pid;
is $stalled->{status}, 503, 'sanity: a stalled Redis is 503';
is grew($errored, $timed_out, 'apikey_redis_timeouts_total'), 1, 'redis_timeouts_total counts the stall';
is grew($errored, $timed_out, 'apikey_redis_errors_total'), 0,
    'and only there: not as an error too (the connection dropped after it is not counted again)';
is grew($errored, $timed_out, 'apikey_requests_total{result="error"}'), 1, 'requests_total error';

# stopped
$redis->stop;
$nginx->get('/api/x', 'X-API-Key' => $reader->{token}) for 1 .. 3;
my $down;
poll_until(10, sub { (undef, $down) = scrape();
                     $down->{apikey_redis_reconnects_total} > $after->{apikey_redis_reconnects_total} });
is grew($timed_out, $down, 'apikey_requests_total{result="error"}'), 3, 'requests_total error';
ok $down->{apikey_redis_reconnects_total} > $after->{apikey_redis_reconnects_total},
    'reconnects_total grows while Redis is down';

# counters survive a reload (shared memory is kept)
my @old_workers = $nginx->worker_pids;
$nginx->reload;
# the new workers answer once the old ones are gone
ok poll_until(30, sub { !grep { !ApikeyTest::gone($_) } @old_workers }), 'reloaded: new workers';
my (undef, $reloaded) = scrape();
ok $reloaded->{'apikey_requests_total{result="ok"}'} >= $after->{'apikey_requests_total{result="ok"}'},
    'counters survive a reload';

# an outside check of the exposition format, on a scrape with every counter
# moved (errors, timeouts, reconnects, the histogram)
SKIP: {
    skip 'promtool not installed (scripts/install-deps)', 1 unless `which promtool` =~ /\S/;
    my $file = $nginx->dir . '/scrape.txt';
    open my $f, '>', $file or die;
    print $f $nginx->get('/metrics')->{body};
    close $f;
    my $out = `promtool check metrics < $file 2>&1`;
    is $?, 0, 'promtool check metrics accepts the exposition' or diag $out;
}

# the endpoint is protected the nginx way
is $nginx->get('/metrics', 'X-Forwarded-For' => '10.0.0.1')->{status}, 200, 'allowed from 127.0.0.1';
my $closed = $nginx->get('/metrics-closed');
is $closed->{status}, 403, 'deny all: 403';
unlike $closed->{body}, qr/apikey_requests_total/, 'deny all: no metrics in the body';

$nginx->stop;
done_testing;
