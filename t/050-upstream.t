# What reaches the API behind nginx: never the key (apikey_strip_credentials),
# the key's identity through variables, and nginx-native interplay
# (error_page, satisfy any, internal redirects).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    location => 'apikey on; proxy_set_header X-Key-Id $apikey_id; '
              . 'proxy_set_header X-Key-Name $apikey_name;',
    server => <<'EOF',
        location /nostrip/ {
            apikey on;
            apikey_strip_credentials off;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /custom/ {
            apikey on;
            error_page 401 = @login;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location @login {
            return 302 /login;
        }
        location /either/ {
            satisfy any;
            allow 127.0.0.1;
            deny all;
            apikey on;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /redirect/ {
            apikey on;
            rewrite ^/redirect/(.*)$ /inner/$1 last;
        }
        location /inner/ {
            apikey on;
            apikey_scope inner;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
EOF
);

my $key = $redis->create_key(name => 'upstream test', scopes => ['inner']);
my $plain = $redis->create_key(name => 'plain');
my $T = $key->{token};

for my $form (['X-API-Key' => $T], ['X-Api-Token' => $T], ['Authorization' => "Bearer $T"]) {
    my $res = $nginx->get('/api/x', @$form);
    is $res->{status}, 200, "$form->[0]: passes";
    unlike $res->{body}, qr/\Q$T\E/, "$form->[0]: the upstream does not see the key";
    like $res->{body}, qr/x-key-id=\[$key->{id}\]/, "$form->[0]: \$apikey_id reaches the upstream";
    like $res->{body}, qr/x-key-name=\[upstream test\]/, "$form->[0]: \$apikey_name too";
}

my $both = $nginx->get('/api/x', 'X-API-Key' => $T, 'Authorization' => "Bearer $T");
is $both->{status}, 200, 'key in two headers passes';
unlike $both->{body}, qr/\Q$T\E/, 'both carriers stripped';

my $basic = $nginx->get('/api/x', 'X-API-Key' => $T, 'Authorization' => 'Basic dTpw');
like $basic->{body}, qr/authorization=\[Basic dTpw\]/, 'an Authorization header that is not the key stays';
unlike $basic->{body}, qr/\Q$T\E/, 'the key header goes';

my $kept = $nginx->get('/nostrip/x', 'X-API-Key' => $T);
like $kept->{body}, qr/x-api-key=\[\Q$T\E\]/, 'apikey_strip_credentials off passes the key on';

# error_page for 401 is honoured, like for auth_basic
my $custom = $nginx->get('/custom/x');
is $custom->{status}, 302, 'error_page 401 = @login';

# satisfy any: another access module may allow the request
is $nginx->get('/either/x')->{status}, 200, 'satisfy any: allow 127.0.0.1 lets a keyless request in';

# internal redirects: checked and charged once, scopes of the final location apply
$redis->cmd('CONFIG', 'RESETSTAT');
my $r = $nginx->get('/redirect/x', 'X-API-Key' => $T);
is $r->{status}, 200, 'rewrite ... last into another apikey location';
like $r->{body}, qr{uri=\[/inner/x\]}, 'reached the inner location';
is $redis->calls('evalsha'), 1, 'one Redis round trip for the whole request';
is $nginx->get('/redirect/x', 'X-API-Key' => $plain->{token})->{status}, 403,
    'the final location\'s scopes are checked after the redirect';

$nginx->stop;
done_testing;
