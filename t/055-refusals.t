# Refusals as nginx treats auth_basic's: 401 and 403 wait for the other access
# modules under `satisfy any`, 429 and 503 are final, an error_page for the
# status wins; otherwise the JSON body, on every nginx the module loads into.
# Each case runs next to an auth_basic location configured the same way.
use strict;
use warnings;
use lib 't/lib';
use File::Temp qw(tempdir);
use Test::More;
use ApikeyTest;

my $H = \&ApikeyTest::Nginx::header;

my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;   # read by the workers
open my $pw, '>', "$dir/htpasswd" or die;
print $pw "u:{PLAIN}p\n";
close $pw;
my $basic_ok = 'Basic ' . 'dTpw';   # u:p

my $up401 = free_port();
my $h2_port = free_port();
my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    location => 'apikey on; apikey_scope read;',
    server => <<"EOF",
        # satisfy any, another module allows
        location /any-allow/ {
            satisfy any; allow 127.0.0.1; deny all;
            apikey on; apikey_scope read; apikey_limit 1r/m burst=1;
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
        location /basic/any-allow/ {
            satisfy any; allow 127.0.0.1; deny all;
            auth_basic "api"; auth_basic_user_file $dir/htpasswd;
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
        # satisfy any, every module refuses
        location /any-deny/ {
            satisfy any; deny all;
            apikey on; apikey_scope read;
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
        location /basic/any-deny/ {
            satisfy any; deny all;
            auth_basic "api"; auth_basic_user_file $dir/htpasswd;
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
        # satisfy any with both: Basic credentials let the request in
        location /both/ {
            satisfy any;
            apikey on;
            auth_basic "api"; auth_basic_user_file $dir/htpasswd;
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
        # satisfy all: the refusal stands even though allow matches
        location /all/ {
            allow 127.0.0.1;
            apikey on;
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
        location /basic/all/ {
            allow 127.0.0.1;
            auth_basic "api"; auth_basic_user_file $dir/htpasswd;
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
        # error_page into a page of the operator's: nginx's error_page wins
        location /page/ {
            apikey on; apikey_scope read;
            error_page 401 403 /denied.txt;
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
        location /basic/page/ {
            auth_basic "api"; auth_basic_user_file $dir/htpasswd;
            error_page 401 /denied.txt;
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
        location = /denied.txt {
            return 200 "operator's page\\n";
        }
        # error_page into a location that refuses again: nginx's page, as JSON
        location /again/ {
            apikey on;
            error_page 401 /api/denied;
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
        # a 401 the upstream itself sends, after the key passed: untouched
        location /upstream401/ {
            apikey on;
            proxy_pass http://127.0.0.1:$up401;
        }
EOF
    http => "server { listen 127.0.0.1:$up401; location / { return 401 \"upstream says no\\n\"; } }\n"
          . "    server { listen 127.0.0.1:$h2_port http2;\n"
          . "        location /api/ { apikey on; proxy_pass http://127.0.0.1:\$upstream_port; } }",
);

my $reader = $redis->create_key(name => 'reader', scopes => ['read']);
my $nobody = $redis->create_key(name => 'no scopes');
my $R = $reader->{token};

# A JSON refusal, complete: status, error code, challenge, no-store, and a
# Content-Length that is the JSON's (not nginx's page's)
sub json_refusal {
    my ($res, $status, $code, $challenge, $what) = @_;
    is $res->{status}, $status, "$what: $status";
    is((json_of($res->{body}) // {})->{error}, $code, "$what: $code");
    is $H->($res, 'Content-Type'), 'application/json', "$what: application/json";
    is $H->($res, 'Content-Length'), length($res->{body}), "$what: Content-Length of the JSON";
    is $H->($res, 'Cache-Control'), 'no-store', "$what: no-store";
    is $H->($res, 'WWW-Authenticate'), $challenge, "$what: WWW-Authenticate";
    unlike $res->{body}, qr/<html>|upstream/, "$what: neither nginx's page nor the upstream";
}

sub let_in {
    my ($res, $what) = @_;
    is $res->{status}, 200, "$what: 200";
    like $res->{body}, qr/^upstream/, "$what: reached the upstream";
    ok !defined $H->($res, 'WWW-Authenticate'), "$what: no challenge left over";
    ok !defined $H->($res, 'Cache-Control'), "$what: no Cache-Control of a refusal";
}

my $bare = 'Bearer realm="api"';
my $invalid = 'Bearer realm="api", error="invalid_token"';
my $bad = with_checksum('ak_zzzzzzzzzzzz_' . ('A' x 40));

# --- satisfy any, and allow matches: in, whatever the key, as with auth_basic
let_in($nginx->get('/any-allow/x'), 'satisfy any + allow, no key');
let_in($nginx->get('/any-allow/x', 'X-API-Key' => $bad), 'satisfy any + allow, unknown key');
let_in($nginx->get('/any-allow/x', 'X-API-Key' => $nobody->{token}),
       'satisfy any + allow, key without the scope');
let_in($nginx->get('/basic/any-allow/x'), 'auth_basic: satisfy any + allow, no credentials');

# ... but 429 is final, as limit_req's is (1r/m burst=1: the second is refused)
let_in($nginx->get('/any-allow/x', 'X-API-Key' => $R), 'satisfy any + allow, good key');
my $limited = $nginx->get('/any-allow/x', 'X-API-Key' => $R);
is $limited->{status}, 429, 'satisfy any + allow: 429 is final';
is((json_of($limited->{body}) // {})->{error}, 'rate_limited', '429: rate_limited');
is $H->($limited, 'Content-Length'), length($limited->{body}), '429: Content-Length of the JSON';
ok(($H->($limited, 'Retry-After') // 0) >= 1, '429: Retry-After');
is $H->($limited, 'RateLimit'), '"default";r=0;t=' . $H->($limited, 'Retry-After'),
    '429: RateLimit, t as Retry-After';

# --- satisfy any, every module refuses: the key's 401 wins over deny's 403,
# as auth_basic's does
json_refusal($nginx->get('/any-deny/x'), 401, 'missing_key', $bare, 'satisfy any + deny, no key');
json_refusal($nginx->get('/any-deny/x', 'X-API-Key' => $bad), 401, 'invalid_key', $invalid,
             'satisfy any + deny, unknown key');
json_refusal($nginx->get('/any-deny/x', 'X-API-Key' => $nobody->{token}), 403,
             'insufficient_scope', 'Bearer realm="api", error="insufficient_scope", scope="read"',
             'satisfy any + deny, key without the scope');
is $nginx->get('/basic/any-deny/x')->{status}, 401, 'auth_basic: satisfy any + deny: 401 too';

# --- satisfy any with auth_basic: valid Basic credentials let the request in,
# and neither module's challenge stays on the answer
let_in($nginx->get('/both/x', 'Authorization' => $basic_ok), 'satisfy any: Basic credentials');
let_in($nginx->get('/both/x', 'X-API-Key' => $R), 'satisfy any: the key');
my $neither = $nginx->get('/both/x');
is $neither->{status}, 401, 'satisfy any: neither: 401';
is_deeply [sort @{ $neither->{headers}{'www-authenticate'} // [] }],
    ['Basic realm="api"', $bare], 'both challenges';

# --- satisfy all: the refusal stands although allow matches
json_refusal($nginx->get('/all/x'), 401, 'missing_key', $bare, 'satisfy all, no key');
is $nginx->get('/basic/all/x')->{status}, 401, 'auth_basic: satisfy all: 401 too';
let_in($nginx->get('/all/x', 'X-API-Key' => $R), 'satisfy all, good key');

# --- error_page: the operator's page and status, with the challenge, as auth_basic
for my $case (['/page/x', 'no key'], ['/basic/page/x', 'auth_basic']) {
    my $res = $nginx->get($case->[0]);
    is $res->{status}, 401, "error_page 401 /denied.txt ($case->[1]): 401";
    is $res->{body}, "operator's page\n", "error_page ($case->[1]): the operator's page";
    ok defined $H->($res, 'WWW-Authenticate'), "error_page ($case->[1]): the challenge stays";
}
my $page403 = $nginx->get('/page/x', 'X-API-Key' => $nobody->{token});
is $page403->{status}, 403, 'error_page 403: 403';
is $page403->{body}, "operator's page\n", 'error_page 403: the operator\'s page';

# an error_page that leads into a location that refuses again: no loop,
# nginx's answer for the status, as JSON
json_refusal($nginx->get('/again/x'), 401, 'missing_key', $bare, 'error_page into a refusing location');

# --- over HTTP/2 (h2c) too: the JSON body in place of nginx's page
{
    my $out = `curl -s -i --http2-prior-knowledge http://127.0.0.1:$h2_port/api/x 2>&1`;
    my ($head, $body) = split /\r\n\r\n/, $out, 2;
    like $head, qr{^HTTP/2 401}, 'HTTP/2: 401';
    like $head, qr{^content-type: application/json\r?$}mi, 'HTTP/2: application/json';
    my ($length) = $head =~ /^content-length: (\d+)/mi;
    is $length, length($body // ''), 'HTTP/2: Content-Length of the JSON';
    is((json_of($body) // {})->{error}, 'missing_key', 'HTTP/2: missing_key');
}

# --- what the module did not refuse is not rewritten
my $up = $nginx->get('/upstream401/x', 'X-API-Key' => $R);
is $up->{status}, 401, 'the upstream\'s own 401';
is $up->{body}, "upstream says no\n", 'keeps its body';
ok !defined $H->($up, 'WWW-Authenticate'), 'and gets no challenge of ours';

$nginx->stop;

# --- Redis unavailable: 503 is final under satisfy any, with Retry-After
{
    my $down = ApikeyTest::Nginx->start(
        redis_address => '127.0.0.1:' . free_port(),
        location => 'apikey on;',
        server => <<'EOF',
        location /any-allow/ {
            satisfy any; allow 127.0.0.1;
            apikey on;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
EOF
    );
    for my $path ('/api/x', '/any-allow/x') {
        my $res = $down->get($path, 'X-API-Key' => $R);
        is $res->{status}, 503, "$path: 503";
        is((json_of($res->{body}) // {})->{error}, 'auth_unavailable', "$path: auth_unavailable");
        is $H->($res, 'Retry-After'), '1', "$path: Retry-After: 1";
        is $H->($res, 'Content-Length'), length($res->{body}), "$path: Content-Length of the JSON";
    }
    $down->stop;
}

done_testing;
