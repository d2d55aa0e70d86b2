# The README's "An example for a typical API" is a configuration an operator
# can copy: this test takes that very block out of README.md, points its
# addresses, files and upstream at this test's own, and runs it (TLS with a
# throw-away certificate, a real Redis). Whatever the README shows must load
# and behave as its comments say.
use strict;
use warnings;
use lib 't/lib';
use File::Temp qw(tempdir);
use Test::More;
use ApikeyTest;

my $root = root();
open my $readme, '<', "$root/README.md" or die "README.md: $!";
my $text = do { local $/; <$readme> };
my ($conf) = $text =~ /^### An example for a typical API\n.*?^```nginx\n(.*?)^```/ms;
ok $conf, 'the README has the example';

my $redis = ApikeyTest::Redis->start;
my $dir = tempdir(CLEANUP => 1);
mkdir "$dir/logs";
my ($tls, $internal, $upstream) = (free_port(), free_port(), free_port());
system("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
       . "-keyout $dir/api.key -out $dir/api.crt >/dev/null 2>&1") == 0 or die 'openssl req failed';

# only addresses, paths and the module's location change
my $module = $ENV{APIKEY_MODULE} // "$root/build/ngx_http_apikey_module.so";
my %swap = (
    'load_module modules/ngx_http_apikey_module.so;' => "load_module $module;",
    'apikey_redis 127.0.0.1:6379;'                    => 'apikey_redis 127.0.0.1:' . $redis->port . ';',
    'server 127.0.0.1:8000;'                          => "server 127.0.0.1:$upstream;",
    'listen 443 ssl;'                                 => "listen 127.0.0.1:$tls ssl;",
    '/etc/nginx/tls/api.example.com.crt'              => "$dir/api.crt",
    '/etc/nginx/tls/api.example.com.key'              => "$dir/api.key",
    '/var/log/nginx/api.log'                          => "$dir/logs/api.log",
    'listen 10.0.0.5:9145;'                           => "listen 127.0.0.1:$internal;",
);
for my $from (sort keys %swap) {
    ok $conf =~ s/\Q$from\E/$swap{$from}/, "the example has \"$from\"";
}
# the API behind it, for this test: says which key id nginx passed on
$conf =~ s/\}\s*\z/    server {
        listen 127.0.0.1:$upstream;
        location \/ { return 200 "api saw key=\$http_x_key_id\\n"; }
    }
}
/ or die 'no closing brace';
open my $out, '>', "$dir/nginx.conf" or die;
print $out "pid $dir/nginx.pid;\nerror_log $dir/logs/error.log debug;\n$conf";
close $out;

# the harness runs it (sanitizer or valgrind wrappers included) and checks its logs
my $nginx = bless { dir => $dir, port => $tls, opt => {} }, 'ApikeyTest::Nginx';
my $started = $nginx->_run(0);
is $started, '', 'nginx starts with the example' or BAIL_OUT($started);

sub https {
    my ($path, @headers) = @_;
    my $cmd = "curl -sk -o - -w '\\n%{http_code}' https://127.0.0.1:$tls$path "
            . join(' ', map { "-H '$_'" } @headers);
    my @lines = split /\n/, `$cmd`;
    my $status = pop @lines;
    return ($status, join("\n", @lines));
}

my $reader = $redis->create_key(name => 'reader', scopes => ['read']);
my $writer = $redis->create_key(name => 'writer', scopes => ['read', 'write']);
my $stats = $redis->create_key(name => 'stats', scopes => ['read', 'stats']);
my $full = $redis->create_key(name => 'full', scopes => ['full_access']);

my ($status, $body) = https('/v1/items');
is $status, 401, 'no key: 401';
($status, $body) = https('/v1/items', "X-API-Key: $reader->{token}");
is $status, 200, 'a read key reads';
like $body, qr/^api saw key=$reader->{id}$/m, 'the API is told the key id';
my $post = "curl -sk -o /dev/null -w '%{http_code}' -X POST https://127.0.0.1:$tls/v1/items";
is `$post -H 'X-API-Key: $reader->{token}'`, 403, 'a read key may not write';
is `$post -H 'X-API-Key: $writer->{token}'`, 200, 'a write key writes';
is `$post -H 'X-API-Key: $full->{token}'`, 200, 'full_access is a superscope';
is((https('/v1/stats/daily', "X-API-Key: $reader->{token}"))[0], 403, 'stats need their own scope');
is((https('/v1/stats/daily', "X-API-Key: $stats->{token}"))[0], 200, 'a stats key reads stats');
($status, $body) = https('/v1/me', "X-API-Key: $stats->{token}");
is $status, 200, '/v1/me: the introspection endpoint';
like $body, qr/"id":"$stats->{id}"/, 'answers the calling key';

my $plain = `curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$tls/v1/items -H 'X-API-Key: $reader->{token}'`;
is $plain, 400, 'plain HTTP on the TLS port is refused (nginx: 400)';

is `curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$internal/metrics`, 403,
    'metrics: 127.0.0.1 is not in 10.0.0.0/8, so denied';

open my $log, '<', "$dir/logs/api.log" or die "api.log: $!";
my @lines = <$log>;
ok scalar(grep { /key=\Q$reader->{id}\E result=ok remaining=\d/ } @lines),
    'the access log names the key, its result and what is left of its bucket';
ok scalar(grep { /key=-? result=missing/ } @lines), 'and a request without a key';

$nginx->stop;
done_testing;
