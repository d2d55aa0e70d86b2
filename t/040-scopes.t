# apikey_scope lines with and without methods, superscopes, scopes from variables,
# inheritance, and the 403 they produce.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    http => <<'EOF',
    apikey_superscope admin full_access;
    map $uri $stats_scope {
        ~^/stats/private  stats:private;
        default           "";
    }
EOF
    location => 'apikey on; apikey_scope read:all GET; apikey_scope write:all POST PUT DELETE;',
    server => <<'EOF',
        location /both/ {
            apikey on;
            apikey_scope read:all;
            apikey_scope billing;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /multi/ {
            apikey on;
            apikey_scope "read:all billing" GET;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /stats/ {
            apikey on;
            apikey_scope $stats_scope;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /nosuper/ {
            apikey on;
            apikey_superscope root;
            apikey_scope read:all;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
EOF
);

my $reader = $redis->create_key(name => 'reader', scopes => ['read:all']);
my $writer = $redis->create_key(name => 'writer', scopes => ['read:all', 'write:all']);
my $admin = $redis->create_key(name => 'admin', scopes => ['admin']);
my $full = $redis->create_key(name => 'full', scopes => ['full_access']);
my $billing = $redis->create_key(name => 'billing', scopes => ['read:all', 'billing']);
my $stats = $redis->create_key(name => 'stats', scopes => ['stats:private']);
my $none = $redis->create_key(name => 'no scopes');

sub st {
    my ($method, $path, $key) = @_;
    return $nginx->request($method, $path, 'X-API-Key' => $key->{token})->{status};
}

is st('GET', '/api/x', $reader), 200, 'GET needs read:all: reader passes';
is st('HEAD', '/api/x', $reader), 200, 'HEAD is covered by the GET line';
is st('POST', '/api/x', $reader), 403, 'POST needs write:all: reader refused';
is st('DELETE', '/api/x', $reader), 403, 'DELETE needs write:all';
is st('POST', '/api/x', $writer), 200, 'writer may POST';
is st('PUT', '/api/x', $writer), 200, 'writer may PUT';
# every line names methods and none names these: only a superscope passes
for my $method (qw(PATCH OPTIONS PROPFIND PURGE FROBNICATE)) {
    is st($method, '/api/x', $writer), 403, "$method matches no line: refused even to a key holding every named scope";
}
is st('PURGE', '/api/x', $admin), 200, 'PURGE matches no line: a superscope passes';
is st('PROPFIND', '/api/x', $full), 200, 'PROPFIND matches no line: any superscope passes';
is st('PURGE', '/both/x', $billing), 200, 'lines without methods apply to every method, PURGE too';
is st('PURGE', '/both/x', $reader), 403, '... and must all be satisfied';
is st('PURGE', '/stats/public', $none), 200, 'a line without methods that requires nothing: PURGE passes';
{
    my $res = $nginx->request('PURGE', '/api/x', 'X-API-Key' => $writer->{token});
    is json_of($res->{body})->{error}, 'insufficient_scope', 'unlisted method: insufficient_scope';
    is json_of($res->{body})->{required_scope}, 'apikey:unlisted-method', '... naming apikey:unlisted-method';
    is ApikeyTest::Nginx::header($res, 'WWW-Authenticate'),
        'Bearer realm="api", error="insufficient_scope", scope="apikey:unlisted-method"',
        '... in WWW-Authenticate too';
    $res = $nginx->request('PURGE', '/api/x', 'X-API-Key' => with_checksum('ak_abcdefghijkl_' . ('Q' x 40)));
    is $res->{status}, 401, 'unlisted method with an unknown key: still 401, not 403';
}
is st('GET', '/api/x', $none), 403, 'a key without scopes is refused where one is needed';
is st('POST', '/api/x', $admin), 200, 'superscope admin passes every check';
is st('GET', '/api/x', $full), 200, 'superscope full_access too';

# one line may name several scopes, separated by spaces
is st('GET', '/multi/x', $reader), 403, 'one line, two scopes: one is not enough';
is st('GET', '/multi/x', $billing), 200, 'holding both passes';

# every line that matches must be satisfied
is st('GET', '/both/x', $reader), 403, 'two lines without methods: one scope is not enough';
is st('GET', '/both/x', $billing), 200, 'holding both passes';

# scopes from variables: map derives them from the URI
is st('GET', '/stats/public', $none), 200, 'empty scope from map: nothing needed';
is st('GET', '/stats/private/x', $none), 403, 'map yields stats:private';
is st('GET', '/stats/private/x', $stats), 200, 'key with stats:private passes';

# apikey_superscope is inherited and replaced like any directive
is st('GET', '/nosuper/x', $admin), 403, 'location-level superscope replaces the inherited one';

# the 403 response
my $res = $nginx->request('POST', '/api/x', 'X-API-Key' => $reader->{token});
is $res->{status}, 403, 'the response is 403';
my $body = json_of($res->{body});
is $body->{error}, 'insufficient_scope', 'error insufficient_scope';
is $body->{required_scope}, 'write:all', 'names the scope';
is ApikeyTest::Nginx::header($res, 'Content-Type'), 'application/json', '403: Content-Type application/json';
is ref($body), 'HASH', '403: the body is a JSON object';
ok length($body->{message} // ''), '403: with a message';
is ApikeyTest::Nginx::header($res, 'WWW-Authenticate'),
    'Bearer realm="api", error="insufficient_scope", scope="write:all"', 'WWW-Authenticate';

my @log = $nginx->access_log_lines(32);
ok((grep { $_->[1] eq 'forbidden' && $_->[0] eq $reader->{id} } @log),
   '$apikey_result forbidden with the key id');
ok((grep { $_->[1] eq 'ok' && $_->[4] eq 'read:all write:all' } @log), '$apikey_scopes');

$nginx->stop;

# apikey_scope lines at server level are inherited by a location that has none,
# and replaced (not added to) by a location's own lines (README: repeatable
# directives are inherited only if the inner level has none of its own)
{
    my $inherits = ApikeyTest::Nginx->start(
        redis => $redis,
        location => 'apikey on;',
        server => <<'EOF',
        apikey_scope read:all;
        location /own/ {
            apikey on;
            apikey_scope write:all;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
EOF
    );
    my $write_only = $redis->create_key(name => 'write only', scopes => ['write:all']);
    my $st = sub { $inherits->get($_[0], 'X-API-Key' => $_[1]{token})->{status} };
    is $st->('/api/x', $reader), 200, 'server-level scope inherited: a key holding it passes';
    is $st->('/api/x', $none), 403, 'server-level scope inherited: a key without it is refused';
    is $st->('/api/x', $write_only), 403, 'server-level scope inherited: another scope is not enough';
    is $st->('/own/x', $write_only), 200, "a location's own line replaces the inherited one: write:all alone passes";
    is $st->('/own/x', $reader), 403, "a location's own line applies: read:all alone is refused";
    $inherits->stop;
}

# CORS preflights: OPTIONS without credentials, which no apikey_scope line can
# let through (the key check needs a key). The README's recipe answers them in
# the rewrite phase, before the key check; everything else is checked as usual.
{
    my $cors = ApikeyTest::Nginx->start(redis => $redis, location => <<'EOF');
            if ($request_method = OPTIONS) {
                add_header Access-Control-Allow-Origin $http_origin always;
                add_header Access-Control-Allow-Methods "GET, POST" always;
                add_header Access-Control-Allow-Headers "X-API-Key" always;
                add_header Access-Control-Max-Age 600 always;
                return 204;
            }
            apikey on;
            apikey_scope read:all GET;
            apikey_scope write:all POST;
EOF
    my $pre = $cors->request('OPTIONS', '/api/x', 'Origin' => 'https://app.example',
                             'Access-Control-Request-Method' => 'GET',
                             'Access-Control-Request-Headers' => 'x-api-key');
    is $pre->{status}, 204, 'CORS recipe: a preflight without credentials gets 204';
    is ApikeyTest::Nginx::header($pre, 'Access-Control-Allow-Origin'), 'https://app.example',
        '... with the CORS headers';
    is $cors->get('/api/x')->{status}, 401, 'CORS recipe: GET without a key is still 401';
    is $cors->get('/api/x', 'X-API-Key' => $reader->{token})->{status}, 200, '... and with one 200';
    is $cors->request('POST', '/api/x', 'X-API-Key' => $reader->{token})->{status}, 403,
        '... and POST still needs write:all';
    is $cors->request('PURGE', '/api/x', 'X-API-Key' => $writer->{token})->{status}, 403,
        '... and an unlisted method a superscope';
    $cors->stop;

    # without it, the preflight is refused like any request without a key
    my $plain = ApikeyTest::Nginx->start(redis => $redis,
        location => 'apikey on; apikey_scope read:all GET; apikey_scope "" OPTIONS;');
    is $plain->request('OPTIONS', '/api/x', 'Origin' => 'https://app.example')->{status}, 401,
        'without the recipe, apikey_scope "" OPTIONS does not help: a preflight has no key';
    $plain->stop;
}

# the scope an unlisted method needs cannot be granted
{
    my ($st) = $redis->cli('create', '--name', 'x', '--scope', 'apikey:unlisted-method');
    isnt $st, 0, 'apikeyctl refuses to grant apikey:unlisted-method';
}

# configuration errors are reported by nginx -t
for my $c (
    ['apikey_scope apikey:unlisted-method;',      qr/invalid scope "apikey:unlisted-method"/],
    ['apikey_superscope apikey:unlisted-method;', qr/invalid scope "apikey:unlisted-method"/],
    [q{apikey_scope 'a"b';},       qr/invalid scope "a"b"/],
    ['apikey_scope read FETCH;',   qr/invalid method "FETCH"/],
    ['apikey_superscope "x\"y";',  qr/invalid scope/],
    ['apikey_superscope a; apikey_superscope b;', qr/is duplicate/],
) {
    my ($ok, $out) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379',
                                                  location => "apikey on; $c->[0]");
    ok !$ok, "nginx -t refuses: $c->[0]";
    like $out, $c->[1], 'with a clear message';
}

done_testing;
