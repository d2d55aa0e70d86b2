# apikey_require_tls: a key sent over plain HTTP is refused (it is compromised);
# over HTTPS it is checked as usual.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use ApikeyTest;

my $dir = tempdir(CLEANUP => 1);
system("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
     . "-keyout $dir/key.pem -out $dir/cert.pem >/dev/null 2>&1") == 0 or die 'openssl';
my $tls_port = free_port();

my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    location => 'apikey on; apikey_require_tls on;',
    http => <<"EOF",
    server {
        listen 127.0.0.1:$tls_port ssl;
        ssl_certificate $dir/cert.pem;
        ssl_certificate_key $dir/key.pem;
        location /api/ {
            apikey on;
            apikey_require_tls on;
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
    }
EOF
);
my $key = $redis->create_key(name => 'tls');

$redis->cmd('CONFIG', 'RESETSTAT');
my $res = $nginx->get('/api/x', 'X-API-Key' => $key->{token});
is $res->{status}, 403, 'a key over plain HTTP: 403';
my $body = json_of($res->{body}) // {};
is $body->{error}, 'tls_required', 'error tls_required';
like $body->{message}, qr/compromised/, 'tells the client why';
is $redis->calls('evalsha'), 0, 'refused without asking Redis';
is $nginx->get('/api/x')->{status}, 401, 'no key over plain HTTP: still missing_key';

my $code = `curl -sk -o /dev/null -w '%{http_code}' -H 'X-API-Key: $key->{token}' https://127.0.0.1:$tls_port/api/x`;
is $code, '200', 'the same key over HTTPS: 200';

my @log = $nginx->access_log_lines(2);
ok((grep { $_->[1] eq 'insecure' } @log), '$apikey_result insecure');

$nginx->stop;
done_testing;
