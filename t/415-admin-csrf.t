# apikey_admin against cross-site request forgery, and its response headers.
#
# A browser sends cached Basic credentials (or a client certificate) with any
# request another site's page makes: a form posting text/plain, urlencoded or
# multipart, or fetch(..., {mode: "no-cors"}). So a change must be JSON (a
# foreign page cannot send that without a CORS preflight, which is never
# answered), and a request naming another origin is refused. Nothing changes
# either way. The page gets a Content-Security-Policy that frames nothing and
# runs only its own script; no response carries a CORS header.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use File::Temp ();
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $htpasswd = File::Temp->new;
print $htpasswd 'alice:' . `openssl passwd -apr1 secret`;
close $htpasswd;
chmod 0644, $htpasswd->filename;
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    location => 'apikey on;',
    server => <<"EOF",
        location /admin/ {
            auth_basic "key admin";
            auth_basic_user_file @{[ $htpasswd->filename ]};
            apikey_admin auth=off;
        }
        location /keyadmin/ {
            apikey_superscope root;
            apikey_admin;
        }
        location = /me {
            apikey_limit 60r/m burst=1;
            apikey_introspect;
        }
EOF
);

my @BASIC = ('Authorization' => 'Basic YWxpY2U6c2VjcmV0');   # alice, cached by the browser
my $victim = $redis->create_key(name => 'victim');
my $own = "http://localhost";   # the harness sends Host: localhost

sub record { $redis->cmd('HGETALL', "apikey:key:{$victim->{id}}") }
sub key_count { scalar grep { /^apikey:key:/ } $redis->cmd('KEYS', 'apikey:key:*') }
my $before = join '|', record();
my $count = key_count();

my @changes = (
    ['POST', '/admin/keys', '{"name":"planted"}'],
    ['POST', "/admin/keys/$victim->{id}/rotate", '{}'],
    ['POST', "/admin/keys/$victim->{id}/revoke", '{}'],
    ['PATCH', "/admin/keys/$victim->{id}", '{"scopes":["admin"]}'],
    ['DELETE', "/admin/keys/$victim->{id}", ''],
);

# 415: what a form or a no-cors fetch can send without a preflight
for my $type (undef, 'text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded',
              'multipart/form-data; boundary=x', 'application/jsonx', 'text/json') {
    for my $c (@changes) {
        my ($m, $p, $b) = @$c;
        my $res = $nginx->request($m, $p, @BASIC, defined $type ? ('Content-Type' => $type) : (),
                                  length $b ? (':body' => $b) : ());
        my $what = "$m $p with " . ($type // 'no Content-Type');
        is $res->{status}, 415, "$what: 415";
        is((json_of($res->{body}) // {})->{error}, 'unsupported_media_type', "$what: in JSON");
    }
}
is join('|', record()), $before, 'the key is untouched';
is key_count(), $count, 'and no key was made';

# 403: another origin, or a browser saying the request comes from another site
for my $h (['Origin' => 'http://evil.example'], ['Origin' => 'null'],
           ['Origin' => 'https://localhost'], ['Origin' => 'http://localhost:8080'],
           ['Origin' => 'http://localhost.evil.example'],
           ['Sec-Fetch-Site' => 'cross-site'], ['Sec-Fetch-Site' => 'same-site'],
           ['Origin' => $own, 'Sec-Fetch-Site' => 'cross-site'],
           ['Origin' => $own, 'Origin' => 'http://evil.example']) {
    for my $c (@changes, ['GET', '/admin/keys', '']) {
        my ($m, $p, $b) = @$c;
        my $res = $nginx->request($m, $p, @BASIC, 'Content-Type' => 'application/json', @$h,
                                  length $b ? (':body' => $b) : ());
        my $what = "$m $p with @$h";
        is $res->{status}, 403, "$what: 403";
        is((json_of($res->{body}) // {})->{error}, 'cross_site', "$what: cross_site");
    }
}
is join('|', record()), $before, 'the key is still untouched';
is key_count(), $count, 'and still no key was made';

# the page's own requests go through
for my $h ([], ['Origin' => $own], ['Origin' => 'HTTP://LOCALHOST'],
           ['Sec-Fetch-Site' => 'same-origin'], ['Origin' => $own, 'Sec-Fetch-Site' => 'same-origin'],
           ['Sec-Fetch-Site' => 'none']) {
    my $res = $nginx->request('PATCH', "/admin/keys/$victim->{id}", @BASIC, @$h,
                              'Content-Type' => 'application/json; charset=utf-8',
                              ':body' => '{"name":"renamed"}');
    is $res->{status}, 200, "PATCH as JSON with @$h: 200";
}
my $res = $nginx->request('DELETE', "/admin/keys/$victim->{id}", @BASIC, 'Origin' => $own,
                          'Content-Type' => 'application/json');
is $res->{status}, 204, 'DELETE with Content-Type: application/json and its own Origin: 204';

# no CORS: a preflight is a 405 like any other unserved method, and no
# response grants another origin anything
my @responses;
for my $c (['OPTIONS', '/admin/keys'], ['GET', '/admin/keys'], ['GET', '/admin/'],
           ['GET', '/admin/keys/openapi.json'], ['POST', '/admin/keys'],
           ['OPTIONS', '/keyadmin/keys'], ['GET', '/keyadmin/keys']) {
    my ($m, $p) = @$c;
    my $r = $nginx->request($m, $p, @BASIC, 'Origin' => 'http://evil.example',
                            'Access-Control-Request-Method' => 'POST',
                            'Access-Control-Request-Headers' => 'content-type');
    my @cors = grep { /^access-control-/ } keys %{ $r->{headers} };
    ok !@cors, "$m $p from another origin: no Access-Control-* header" or diag "@cors";
}
$res = $nginx->request('OPTIONS', '/admin/keys', @BASIC);
is $res->{status}, 405, 'OPTIONS keys: 405';

# 405s: JSON, with Allow
for my $c (['PUT', '/admin/keys', 'GET, POST'], ['OPTIONS', '/admin/keys', 'GET, POST'],
           ['POST', '/admin/keys/abcdefghijkl', 'GET, PATCH, DELETE'],
           ['GET', '/admin/keys/abcdefghijkl/rotate', 'POST'],
           ['DELETE', '/admin/keys/abcdefghijkl/audit', 'GET'],
           ['POST', '/admin/', 'GET'], ['DELETE', '/admin/keys/openapi.json', 'GET'],
           ['PUT', '/keyadmin/keys', 'GET, POST']) {
    my ($m, $p, $allow) = @$c;
    my $r = $nginx->request($m, $p, @BASIC, 'Content-Type' => 'application/json', ':body' => '{}');
    is $r->{status}, 405, "$m $p: 405";
    is ApikeyTest::Nginx::header($r, 'Allow'), $allow, "$m $p: Allow: $allow";
    like ApikeyTest::Nginx::header($r, 'Content-Type'), qr{^application/json}, "$m $p: JSON";
    is((json_of($r->{body}) // {})->{error}, 'method_not_allowed', "$m $p: method_not_allowed");
}

# apikey_introspect: a method it does not serve is refused before the key is
# looked at (no key needed, no token taken from the bucket of 1)
my $me = $redis->create_key(name => 'me');
for my $m (qw(POST PUT DELETE OPTIONS)) {
    my $r = $nginx->request($m, '/me', 'X-API-Key' => $me->{token});
    is $r->{status}, 405, "introspect $m: 405";
    is ApikeyTest::Nginx::header($r, 'Allow'), 'GET, HEAD', "introspect $m: Allow: GET, HEAD";
    like ApikeyTest::Nginx::header($r, 'Content-Type'), qr{^application/json}, "introspect $m: JSON";
    is((json_of($r->{body}) // {})->{error}, 'method_not_allowed', "introspect $m: method_not_allowed");
}
is $nginx->request('POST', '/me')->{status}, 405, 'introspect POST without a key: 405, not 401';
is $nginx->get('/me', 'X-API-Key' => $me->{token})->{status}, 200,
    'GET still has its token: the 405s took none';

# the page's headers
my $page = $nginx->get('/admin/', @BASIC);
is $page->{status}, 200, 'the page';
my $csp = ApikeyTest::Nginx::header($page, 'Content-Security-Policy') // '';
like $csp, qr/(^|;\s*)frame-ancestors 'none'(;|$)/, "CSP: frame-ancestors 'none'";
my ($script_src) = $csp =~ /(?:^|;\s*)script-src ([^;]*)/;
ok defined $script_src, 'CSP: a script-src';
unlike $script_src // 'unsafe-inline', qr/unsafe-inline|unsafe-eval|\*|https?:|data:/,
    "CSP: script-src allows no inline code but by hash ($script_src)";
like $script_src // '', qr/^('sha256-[A-Za-z0-9+\/]+=*'\s*)+$/, 'CSP: the scripts by their SHA-256';
like $csp, qr/(^|;\s*)default-src 'none'(;|$)/, "CSP: default-src 'none'";
unlike $csp, qr/unsafe-inline/, "CSP: no 'unsafe-inline' at all";
is ApikeyTest::Nginx::header($page, 'X-Frame-Options'), 'DENY', 'X-Frame-Options: DENY';
is ApikeyTest::Nginx::header($page, 'X-Content-Type-Options'), 'nosniff', 'the page: nosniff';
is ApikeyTest::Nginx::header($page, 'Referrer-Policy'), 'no-referrer', 'Referrer-Policy: no-referrer';
unlike $page->{body}, qr/<[^>]*\son[a-z]+\s*=/i, 'no inline event handler attribute in the page';
unlike $page->{body}, qr/<[^>]*\sstyle\s*=/i, 'no style attribute in the page';
unlike $page->{body}, qr/http-equiv="Content-Security-Policy"/i, 'one policy: the header';

# the hashes are those of the page's own scripts and styles
{
    require Digest::SHA;
    require MIME::Base64;
    my @scripts = $page->{body} =~ m{<script>(.*?)</script>}gs;
    ok @scripts, 'the page has its script inline';
    for my $s (@scripts) {
        my $h = MIME::Base64::encode_base64(Digest::SHA::sha256($s), '');
        like $script_src, qr/'sha256-\Q$h\E'/, 'the inline script is allowed by its hash';
    }
}

for my $c (['GET', '/admin/keys'], ['GET', '/admin/keys/zzzzzzzzzzzz'], ['GET', '/admin/keys/openapi.json'],
           ['PUT', '/admin/keys'], ['POST', '/admin/keys'], ['GET', '/keyadmin/keys']) {
    my ($m, $p) = @$c;
    my $r = $nginx->request($m, $p, @BASIC);
    is ApikeyTest::Nginx::header($r, 'X-Content-Type-Options'), 'nosniff', "$m $p ($r->{status}): nosniff";
}

# the served documents start where the files do
my $spec = $nginx->get('/admin/keys/openapi.json', @BASIC);
is substr($spec->{body}, 0, 1), '{', 'the served OpenAPI document starts with "{" (no stray byte)';
is substr($page->{body}, 0, 15), '<!doctype html>', 'the served page starts with its doctype';

$nginx->stop;
done_testing;
