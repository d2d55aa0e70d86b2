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

# reply later than the timeout: the request gave up, then the reply comes
my $later = FakeRedis->start(delay => 0.5);
$nginx = ApikeyTest::Nginx->start(redis_address => $later->address,
                                  location => 'apikey on; apikey_redis_timeout 100ms;');
@workers = $nginx->worker_pids;
my @socks = map { $nginx->send_request('GET', '/api/x', 'X-API-Key' => $token) } 1 .. 10;
close $_ for @socks[0 .. 4];   # half hang up, half wait for their 503
is $nginx->read_response($_)->{status}, 503, 'waiting client gets 503 at the timeout'
    for @socks[5 .. 9];
sleep 1;
is_deeply [$nginx->worker_pids], \@workers, 'the worker survived late replies';
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
