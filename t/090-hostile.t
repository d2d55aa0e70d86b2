# Hostile input: every odd header gets a documented 4xx, never a Redis call for
# obviously bad input, never a crash.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $plain = ApikeyTest::Nginx->start(redis => $redis);
my $roomy = ApikeyTest::Nginx->start(redis => $redis,
                                     http => 'large_client_header_buffers 4 128k;');
my $key = $redis->create_key(name => 'k');
my @workers = ($plain->worker_pids, $roomy->worker_pids);
$redis->cmd('CONFIG', 'RESETSTAT');

sub check {
    my ($nginx, $what, $status, $code, @headers) = @_;
    my $res = $nginx->get('/api/x', @headers);
    is $res->{status}, $status, "$what: $status";
    is((json_of($res->{body}) // {})->{error}, $code, "$what: $code") if $code;
}

for my $n ($plain, $roomy) {
    check($n, 'value of 0 bytes', 401, 'missing_key', 'X-API-Key' => '');
    check($n, 'value of 1 byte', 401, 'malformed_key', 'X-API-Key' => 'x');
    check($n, 'control bytes', 401, 'malformed_key', 'X-API-Key' => "a\x07\x1bb");
    check($n, 'DEL byte', 401, 'malformed_key', 'X-API-Key' => "ab\x7f");
    check($n, 'non-ASCII', 401, 'malformed_key', 'X-API-Key' => "\xe2\x98\x83\xff\xfe");
    check($n, 'Bearer, nothing after it', 401, 'missing_key', 'Authorization' => 'Bearer');
    check($n, 'mixed case scheme and name', 200, undef, 'AuThOrIzAtIoN' => "bEARER $key->{token}");
    check($n, 'tabs around the key', 200, undef, 'X-Api-Token' => "\t$key->{token}\t");
    check($n, 'tab inside the key', 401, 'malformed_key', 'X-Api-Token' => "ak_\tx");
    check($n, 'a 512-byte b64token', 401, 'malformed_key', 'X-API-Key' => 'A' x 512);
}

# nginx's own parser takes some of them first, with its documented 400
check($plain, 'NUL byte: 400 from nginx', 400, undef, 'X-API-Key' => "ab\0cd");
check($plain, '8 KiB value, default buffers: 400 from nginx', 400, undef, 'X-API-Key' => 'k' x 8192);
check($plain, '64 KiB value, default buffers: 400 from nginx', 400, undef, 'X-API-Key' => 'k' x 65536);
check($roomy, '8 KiB value: 401 from the module', 401, 'malformed_key', 'X-API-Key' => 'k' x 8192);
check($roomy, '64 KiB value: 401 from the module', 401, 'malformed_key', 'X-API-Key' => 'k' x 65536);
check($roomy, '64 KiB Bearer: 401 from the module', 401, 'malformed_key',
      'Authorization' => 'Bearer ' . ('k' x 65536));
check($roomy, '900 repeated headers', 401, 'ambiguous_key', map { ('X-API-Key' => $key->{token}) } 1 .. 900);

# a flood of garbage in parallel
my @res = $roomy->parallel(200, 'GET', '/api/x', 'X-API-Key' => 'ak_' . ('x' x 59));
is scalar(grep { $_->{status} == 401 } @res), 200, '200 garbage tokens at once: all 401';

is $redis->calls('evalsha'), 4, 'only the valid key ever reached Redis (twice per server)';
is_deeply [$plain->worker_pids, $roomy->worker_pids], \@workers, 'no worker crashed';

$_->stop for $plain, $roomy;
done_testing;
