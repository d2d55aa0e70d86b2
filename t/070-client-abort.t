# A client that hangs up while its check is in flight: no crash, the worker
# keeps serving, and the late reply lands harmlessly.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
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

done_testing;
