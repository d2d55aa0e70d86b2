# No C++ exception crosses into nginx: with every C++ allocation in the worker
# throwing std::bad_alloc (a preloaded operator new, t/faults/throwing_new.cpp),
# each entry nginx calls -- the access handler, the content handlers, the header
# filter, the Redis reply callbacks -- fails its own request with a log line that
# names the entry and the exception, and the worker lives on.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);
use ApikeyTest;

plan skip_all => 'the sanitizer or valgrind runtime replaces operator new itself'
    if $ENV{NGINX_PRELOAD} || $ENV{NGINX_WRAPPER};

my $dir = tempdir(CLEANUP => 1);
my $shim = "$dir/throwing_new.so";
system('g++', '-shared', '-fPIC', '-O1', '-o', $shim, ApikeyTest::root() . '/t/faults/throwing_new.cpp') == 0
    or BAIL_OUT('cannot build the throwing operator new');
chmod 0755, $dir;   # the workers (nobody) look for the flag
my $flag = "$dir/throw";

my $redis = ApikeyTest::Redis->start;
my $key = $redis->create_key(name => 'k', scopes => ['admin']);
# refused with a body that carries details (expired_at): built in C++, so it
# allocates, in the access handler
my $expired = $redis->create_key(name => 'expired', scopes => ['admin']);
$redis->cmd('HSET', "apikey:key:{$expired->{id}}", 'expires', time - 60);

my $nginx = do {
    local $ENV{NGINX_WRAPPER} = "env LD_PRELOAD=$shim APIKEY_THROW_FLAG=$flag";
    ApikeyTest::Nginx->start(
        redis => $redis,
        http => 'apikey_superscope admin;',   # the wrapper brings apikey_redis_timeout 5s
        server => <<'EOF2',
        location = /me { apikey_introspect; }
        location = /metrics { apikey_metrics; }
        location /admin/ { apikey_admin; }
        location /open-admin/ { apikey_admin auth=off; }
EOF2
    );
};
my @workers = $nginx->worker_pids;

my %auth = ('X-API-Key' => $key->{token});
is $nginx->get('/api/x', %auth)->{status}, 200, 'before: the key works';

open my $f, '>', $flag or die;
close $f;

my %status;
$status{$_->[0]} = $nginx->get($_->[1], @{ $_->[2] })->{status}
    for ['no key', '/api/x', []], ['key', '/api/x', [%auth]], ['introspect', '/me', [%auth]],
        ['metrics', '/metrics', []], ['admin list', '/open-admin/keys', []];
unlink $flag;

# a refusal decided while allocations fail: the check was sent before (with
# Redis stopped), its reply needs no allocation, and the access handler then
# builds the expired key's body (expired_at) in C++
kill 'STOP', $redis->pid;
my $pending = $nginx->send_request('GET', '/api/x', 'X-API-Key' => $expired->{token});
sleep 0.5;
open $f, '>', $flag or die;
close $f;
kill 'CONT', $redis->pid;
$status{'expired key'} = $nginx->read_response($pending, 10)->{status};
unlink $flag;

# a reply that lands while allocations fail: the check was sent before, with
# Redis stopped, and Redis goes on once the flag is up
# (a record the reply decoder refuses, whose error message is a C++ string:
# a valid reply is decoded without any allocation)
my $other = $redis->create_key(name => 'in flight');
$redis->cmd('HSET', "apikey:key:{$other->{id}}", 'status', 'bogus');
kill 'STOP', $redis->pid;
my $sock = $nginx->send_request('GET', '/api/x', 'X-API-Key' => $other->{token});
sleep 0.5;   # the check is written to Redis's socket; Redis reads it once it goes on
open $f, '>', $flag or die;
close $f;
kill 'CONT', $redis->pid;
my $res = $nginx->read_response($sock, 10);
unlink $flag;
isnt $res->{status}, 0, "the request in flight was answered ($res->{status})";
like $nginx->error_log, qr/apikey: exception in the redis reply of a check: std::bad_alloc/,
    'the reply callback caught it and woke its request';

is_deeply [$nginx->worker_pids], \@workers, 'no worker died while every allocation threw';
my $log = $nginx->error_log;
my @caught = $log =~ /apikey: exception in (\w+): std::bad_alloc/g;
ok scalar(@caught), 'the exceptions were logged with their message'
    or diag grep { /apikey: exception|\[alert\]/ } split /^/, $log;
like "@caught", qr/ngx_http_apikey_access_handler/, "one of them in the access handler" or diag grep { /apikey: exception/ } split /^/, $log;
is $status{'expired key'}, 500, 'the request whose handler failed is a 500';
is $status{'no key'}, 401, 'a request without a key is refused without any allocation (its challenge and body are static)';
is $status{'admin list'}, 500, 'so is the admin request';
like $log, qr/apikey: exception in (ngx_http_apikey_admin_handler|the admin request): std::bad_alloc/,
    'caught in the admin handler';

is $nginx->get('/api/x', %auth)->{status}, 200, 'after: the key works again';

# the expected alert lines are this test's subject, not a failure of it
my $path = $nginx->dir . '/logs/error.log';
open my $in, '<', $path or die;
my @keep = grep { !/apikey: exception in / } <$in>;
close $in;
open my $out, '>', $path or die;
print $out @keep;
close $out;

$nginx->stop;
done_testing;
