# A client that hangs up while its check is in flight: no crash, the worker
# keeps serving, and the late reply lands harmlessly. And the request ends
# when the client leaves (an HTTP/1.1 close, an HTTP/2 RST_STREAM), not when
# Redis answers or the timeout fires.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use ApikeyTest;
use FakeRedis;

my $token = with_checksum('ak_abcdefghijkl_' . ('A' x 40));

# reply slower than the client's patience, but within the timeout
my $slow = FakeRedis->start(delay => 0.3);
my $nginx = ApikeyTest::Nginx->start(redis_address => $slow->address,
                                     location => 'apikey on; apikey_redis_timeout 2s;');
my @workers = $nginx->worker_pids;

for (1 .. 20) {
    my $sock = $nginx->send_request('GET', '/api/x', 'X-API-Key' => $token);
    close $sock;   # gone before Redis answers
}
sleep 0.8;         # let every late reply arrive

is_deeply [$nginx->worker_pids], \@workers, 'the worker survived';
is $nginx->get('/api/x', 'X-API-Key' => $token)->{status}, 200, 'and still serves checks';
$nginx->stop;

# reply later than the timeout, on a connection that stays up: the request
# gave up and is gone, then its reply comes and must land on nothing. A stream
# of checks with a long timeout keeps replies flowing, so the connection is
# never dropped for silence; glibc fills freed memory (MALLOC_PERTURB_), so a
# reply that reached the freed request would crash the worker.
my $later = FakeRedis->start(delay => 1.0);
$nginx = ApikeyTest::Nginx->start(redis_address => $later->address,
                                  env => { MALLOC_PERTURB_ => 165 },
                                  location => 'apikey on; apikey_redis_timeout 400ms;',
                                  server => 'location /patient/ { apikey on; apikey_redis_timeout 30s; '
                                          . 'proxy_pass http://127.0.0.1:$upstream_port; }');
@workers = $nginx->worker_pids;
my (@patient, @socks);
my $t0 = time;
while (time - $t0 < 3.0) {
    push @patient, $nginx->send_request('GET', '/patient/x', 'X-API-Key' => $token);
    # once replies flow, five checks that give up after 400 ms
    @socks = map { $nginx->send_request('GET', '/api/x', 'X-API-Key' => $token) } 1 .. 5
        if !@socks && time - $t0 > 1.2;
    sleep 0.05;
}
is $nginx->read_response($_, 30)->{status}, 503, 'waiting client gets 503 at the timeout'
    for @socks;
# the checks sent after them are answered after their replies: every late
# reply has landed by the time the last of these is read
is $nginx->read_response($_, 60)->{status}, 200, 'a check around them passes, on the same connection'
    for @patient;
unlike $nginx->error_log, qr/closing the redis connection/, 'the connection was never dropped';
is_deeply [$nginx->worker_pids], \@workers, 'the worker survived late replies';
$nginx->stop;

# a request torn down while its check waits: on a reload, the old worker's
# worker_shutdown_timeout terminates it, its pool cleanup runs, and the
# answers that come later (the connection closing as the worker exits) find
# no request; the old worker exits cleanly, not on a signal
my $never = FakeRedis->start(delay => 600);
$nginx = ApikeyTest::Nginx->start(redis_address => $never->address,
                                  env => { MALLOC_PERTURB_ => 165 },
                                  main => 'worker_shutdown_timeout 300ms;',
                                  location => 'apikey on; apikey_redis_timeout 600s;',
                                  server => 'location = /metrics { apikey_metrics; }');
@workers = $nginx->worker_pids;
@socks = map { $nginx->send_request('GET', '/api/x', 'X-API-Key' => $token) } 1 .. 5;
ok poll_until(30, sub { $nginx->get('/metrics')->{body} =~ /^apikey_checks_in_flight 5$/m }),
    'five checks wait';
$nginx->reload;
ok poll_until(60, sub { !grep { !ApikeyTest::gone($_) } @workers }), 'the old worker exits';
is $nginx->read_response($_, 30)->{status}, 0, 'its waiting requests were cut off' for @socks;
unlike $nginx->error_log, qr/exited on signal/, 'the old worker exited cleanly, not on a signal';
$nginx->stop;

# --- a client that leaves frees its request at once. Redis never answers and
# the timeout is a minute away: only watching the client connection (as
# limit_req's delay does) ends the request, with 499 in the access log.
{
    my $silent = FakeRedis->start(delay => 600);
    my $h2_port = free_port();
    my $nginx = ApikeyTest::Nginx->start(
        redis_address => $silent->address,
        location => 'apikey on; apikey_redis_timeout 60s;',
        http => <<"EOF",
    server {
        listen 127.0.0.1:$h2_port http2;
        access_log logs/access.log apikey;
        location /api/ {
            apikey on;
            apikey_redis_timeout 60s;
            proxy_pass http://127.0.0.1:1;
        }
    }
EOF
    );

    # waits (generously: seconds, against a 60 s timeout) for the access log
    # line of $uri
    my $logged = sub {
        my ($uri) = @_;
        my $until = time + 10;
        while (time < $until) {
            my ($line) = grep { $_->[6] eq $uri } $nginx->access_log;
            return $line if $line;
            sleep 0.05;
        }
        return;
    };

    my $sock = $nginx->send_request('GET', '/api/h1-close', 'X-API-Key' => $token);
    sleep 0.3;   # the check is waiting for Redis
    close $sock;
    my $line = $logged->('/api/h1-close');
    ok $line, 'HTTP/1.1: the request ends when the client closes';
    is $line && $line->[2], 499, 'HTTP/1.1: logged as 499';

    SKIP: {
        skip 'python3-h2 missing (scripts/install-deps installs it)', 3
            unless system('/usr/bin/python3', '-c', 'import h2') == 0;
        my $script = root() . '/t/lib/h2_reset.py';
        open my $h2, '|-', '/usr/bin/python3', $script, $h2_port, '/api/h2-reset', '0.3',
            'X-API-Key', $token or die "h2_reset.py: $!";
        # the connection stays open: only the stream is reset
        my $line = $logged->('/api/h2-reset');
        ok $line, 'HTTP/2: the request ends when the client resets the stream';
        is $line && $line->[2], 499, 'HTTP/2: logged as 499';
        close $h2;
        like $nginx->error_log, qr/client canceled stream/, 'nginx saw the RST_STREAM';
    }

    unlike $nginx->error_log, qr/redis did not answer/, 'no request waited for the timeout';
    $nginx->stop;
    $silent->stop;
}

done_testing;
