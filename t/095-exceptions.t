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

my $nginx = do {
    local $ENV{NGINX_WRAPPER} = "env LD_PRELOAD=$shim APIKEY_THROW_FLAG=$flag";
    ApikeyTest::Nginx->start(
        redis => $redis,
        http => 'apikey_superscope admin;',
        server => <<'EOF2',
        location = /me { apikey_introspect; }
        location = /metrics { apikey_metrics; }
        location /admin/ { apikey_admin; }
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
        ['metrics', '/metrics', []], ['admin list', '/admin/keys', [%auth]];

unlink $flag;

is_deeply [$nginx->worker_pids], \@workers, 'no worker died while every allocation threw';
my $log = $nginx->error_log;
my @caught = $log =~ /apikey: exception in (\w+): std::bad_alloc/g;
ok scalar(@caught), 'the exceptions were logged with their message'
    or diag grep { /apikey: exception|\[alert\]/ } split /^/, $log;
like "@caught", qr/ngx_http_apikey_access_handler/, 'one of them in the access handler';
is $status{'no key'}, 500, 'the request whose handler failed is a 500';

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
