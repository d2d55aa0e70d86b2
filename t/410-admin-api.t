# apikey_admin: key management over HTTP. Every endpoint, every error, the
# audit trail, each change seen through a protected location, and who may call
# it: an admin key by default (a superscope, or scope=), auth=off behind
# another guard.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use File::Temp ();
use Time::HiRes qw(sleep time);
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $htpasswd = File::Temp->new;
print $htpasswd 'alice:' . `openssl passwd -apr1 secret`;
close $htpasswd;
chmod 0644, $htpasswd->filename;   # read by the worker, not only root
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    http => 'apikey_cache zone=apikeys:1m;',
    location => 'apikey on; apikey_scope read GET;',
    server => <<"EOF",
        location /admin/ {
            apikey_superscope root;
            apikey_limit 60000r/m burst=1000;
            apikey_admin;
        }
        location /openadmin/ {
            allow 127.0.0.1;
            deny all;
            apikey_admin auth=off;
        }
        location /keyadmin/ {
            apikey_admin scope=keys:admin;
        }
        location /basicadmin/ {
            auth_basic "key admin";
            auth_basic_user_file @{[ $htpasswd->filename ]};
            apikey_admin auth=off;
        }
EOF
);
ok poll_until(30, sub { $redis->subscribers >= 1 }), 'the worker subscribed to invalidations';

my $J = JSON::PP->new->utf8->canonical;

# the admin key every call below sends (a superscope: "root")
my $ROOT = $redis->create_key(name => 'root', scopes => ['root']);

sub call {
    my ($method, $path, $body, @headers) = @_;
    my $changes = $method =~ /^(POST|PUT|PATCH|DELETE)$/;
    my $res = $nginx->request($method, $path, 'X-API-Key' => $ROOT->{token},
        defined $body ? (':body' => ref $body ? $J->encode($body) : $body) : (),
        defined $body || $changes ? ('Content-Type' => 'application/json') : (), @headers);
    $res->{json} = json_of($res->{body}) if length($res->{body} // '');
    return $res;
}

sub api_status { $nginx->get('/api/x', 'X-API-Key' => $_[0])->{status} }

# the page and the OpenAPI document
my $page = $nginx->get('/admin/');
is $page->{status}, 200, 'GET /admin/: the page';
like ApikeyTest::Nginx::header($page, 'Content-Type'), qr{^text/html}, 'as HTML';
my $spec = call('GET', '/admin/keys/openapi.json');
is $spec->{status}, 200, 'GET keys/openapi.json';
ok $spec->{json}, 'is JSON';

# create
my $res = call('POST', '/admin/keys', {name => 'over http', scopes => ['read', 'write'],
                                        expires_in => '30d', limits => ['600r/m:50'],
                                        reason => 'ticket 7'});
is $res->{status}, 201, 'POST keys: 201';
my $key = $res->{json};
like $key->{token}, qr/^ak_live_[0-9a-z]{12}_[0-9A-Za-z]{46}$/, 'the token, this once';
is ApikeyTest::Nginx::header($res, 'Cache-Control'), 'no-store', 'and never cached';
is_deeply $key->{scopes}, ['read', 'write'], 'scopes';
is_deeply $key->{limits}, ['600r/m:50'], 'limits';
like $key->{expires_at}, qr/^\d{4}-/, 'expiry';
is $redis->cmd('HGET', "apikey:key:{$key->{id}}", 'digest') =~ /^[0-9a-f]{64}$/ ? 1 : 0, 1,
    'only a digest in Redis';
is api_status($key->{token}), 200, 'a key created over HTTP works at once';

# the CLI sees the same record, in the same JSON
my (undef, $shown) = $redis->cli('show', $key->{id}, '--json');
is_deeply json_of($shown), call('GET', "/admin/keys/$key->{id}")->{json},
    'apikeyctl show --json and GET keys/{id} print the same object';

# get, list
$res = call('GET', "/admin/keys/$key->{id}");
is $res->{status}, 200, 'GET keys/{id}';
ok !exists $res->{json}{token}, 'no token';
$redis->create_key(name => 'cli made', scopes => ['read']);
$res = call('GET', '/admin/keys');
is $res->{status}, 200, 'GET keys';
my @all;
my $cursor;
for (1 .. 50) {   # follow the cursor to the end
    push @all, @{ $res->{json}{keys} };
    $cursor = $res->{json}{next_cursor} // last;
    $res = call('GET', "/admin/keys?cursor=$cursor");
}
is_deeply [sort map { $_->{name} } @all], ['cli made', 'over http', 'root'], 'every key, HTTP or CLI made';
is call('GET', '/admin/keys?name_prefix=' . ('%C3%A9' x 128))->{status}, 200, 'name_prefix of 128 two-byte characters';
$res = call('GET', '/admin/keys?name_prefix=over%20h');
is_deeply [map { $_->{name} } @{ $res->{json}{keys} }], ['over http'], 'name_prefix';
$res = call('GET', '/admin/keys?expiring_within=60d');
is_deeply [map { $_->{name} } @{ $res->{json}{keys} }], ['over http'], 'expiring_within';

# unused_since: last used before the cutoff, or never used and made before it
{
    my ($day, $now) = (86400, int time);
    my %stale = map { $_ => $redis->create_key(name => "stale $_") } qw(idle used fresh);
    $redis->cmd('HSET', "apikey:key:{$stale{$_}{id}}", 'created', $now - 40 * $day) for qw(idle used);
    $redis->cmd('HSET', "apikey:key:{$stale{idle}{id}}", 'last_used', $now - 35 * $day);
    $redis->cmd('HSET', "apikey:key:{$stale{used}{id}}", 'last_used', $now - $day);
    $res = call('GET', '/admin/keys?name_prefix=stale&unused_since=30d');
    is_deeply [map { $_->{name} } @{ $res->{json}{keys} }], ['stale idle'],
        'unused_since: only the key not used for 30 days (not the recently used one, not a new one)';
    call('DELETE', "/admin/keys/$_->{id}") for values %stale;
}

# pagination: limit= pages through every key once, following the cursor
{
    my %made = map { $_->{id} => 1 } map { $redis->create_key(name => "page $_") } 1 .. 6;
    my (%seen, $pages);
    my $path = '/admin/keys?name_prefix=page&limit=1';
    while (defined $path && $pages++ < 200) {
        $res = call('GET', $path);
        last unless $res->{status} == 200;
        $seen{ $_->{id} }++ for @{ $res->{json}{keys} };
        my $next = $res->{json}{next_cursor};
        $path = defined $next ? "/admin/keys?name_prefix=page&limit=1&cursor=$next" : undef;
    }
    is_deeply [sort keys %seen], [sort keys %made], 'limit=1: every key, following next_cursor';
    ok !grep({ $_ != 1 } values %seen), 'each key on one page only';
    cmp_ok $pages, '>', 1, "more than one page ($pages)";
    is call('GET', '/admin/keys?limit=0')->{status}, 400, 'limit=0: 400';
    call('DELETE', "/admin/keys/$_") for keys %made;
}

# update
$res = call('PATCH', "/admin/keys/$key->{id}", {scopes => ['write'], name => 'renamed'});
is $res->{status}, 200, 'PATCH';
is $res->{json}{name}, 'renamed', 'name changed';
is_deeply $res->{json}{scopes}, ['write'], 'scopes replaced';
is_deeply $res->{json}{limits}, ['600r/m:50'], 'the rest untouched';
$res = call('PATCH', "/admin/keys/$key->{id}", {expires_in => '7d', limits => ['100r/s:20', '1000r/d']});
is $res->{status}, 200, 'PATCH expires_in and limits';
is_deeply $res->{json}{limits}, ['100r/s:20', '1000r/d:1000'], 'limits replaced';
my $expires = $redis->cmd('HGET', "apikey:key:{$key->{id}}", 'expires');
ok $expires > time + 6 * 86400 && $expires < time + 8 * 86400, 'expiry moved to 7 days from now';
is_deeply call('PATCH', "/admin/keys/$key->{id}", {expires_in => '30d', limits => ['600r/m:50']})
    ->{json}{limits}, ['600r/m:50'], 'and back';
my $t0 = time;
my $st;
do { $st = api_status($key->{token}); sleep 0.05 } while ($st != 403 && time - $t0 < 1.5);
is $st, 403, 'the scope change is seen through nginx';
call('PATCH', "/admin/keys/$key->{id}", {scopes => ['read']});

# rotate with grace
$res = call('POST', "/admin/keys/$key->{id}/rotate", {grace => '1h', reason => 'rolling'});
is $res->{status}, 200, 'rotate';
my $new = $res->{json}{token};
like $new, qr/^ak_live_$key->{id}_/, 'a new token, same id';
ok $res->{json}{previous_token}, 'the previous token in its grace';
is api_status($new), 200, 'new token works';
is api_status($key->{token}), 200, 'old token works during the grace';

# revoke: at once (within a second, with the cache on)
$res = call('POST', "/admin/keys/$key->{id}/revoke", {reason => 'done'});
is $res->{status}, 200, 'revoke';
is $res->{json}{status}, 'revoked', 'revoked';
$t0 = time;
do { $st = api_status($new); sleep 0.05 } while ($st != 401 && time - $t0 < 1.5);
is $st, 401, 'a revoke over HTTP stops the key';
ok time - $t0 < 1.0, 'within a second';
$res = call('POST', "/admin/keys/$key->{id}/revoke", '{}');
is $res->{status}, 409, 'revoking a revoked key: 409';
is $res->{json}{error}, 'conflict', 'conflict';
is call('POST', "/admin/keys/$key->{id}/rotate", '{}')->{status}, 409, 'rotating a revoked key: 409';
$res = call('GET', '/admin/keys?status=revoked');
is_deeply [map { $_->{id} } @{ $res->{json}{keys} }], [$key->{id}], 'status filter';

# audit
$res = call('GET', "/admin/keys/$key->{id}/audit");
is $res->{status}, 200, 'audit';
my @actions = map { $_->{action} } @{ $res->{json}{events} };
is_deeply \@actions, [qw(revoke rotate update update update update create)], 'every change, newest first';
is $res->{json}{events}[0]{via}, 'admin-api', 'via the admin API';
is $res->{json}{events}[0]{user}, "key:$ROOT->{id}", 'caller: the admin key that acted';
is $res->{json}{events}[-1]{reason}, 'ticket 7', 'the reason';
my (undef, $cli_audit) = $redis->cli('audit', $key->{id}, '--json');
is scalar(@{ json_of($cli_audit) }), 7, 'the same stream apikeyctl audit reads';

# audit paging: an explicit limit is honoured, whatever its value (the
# default is 100 events)
{
    my $busy = call('POST', '/admin/keys', {name => 'busy'})->{json};
    call('PATCH', "/admin/keys/$busy->{id}", {name => "busy $_"}) for 1 .. 51;
    is scalar @{ call('GET', "/admin/keys/$busy->{id}/audit")->{json}{events} }, 52,
        'audit: every event up to 100 by default';
    is scalar @{ call('GET', "/admin/keys/$busy->{id}/audit?limit=50")->{json}{events} }, 50,
        'audit?limit=50: 50 events';
    call('DELETE', "/admin/keys/$busy->{id}");
}

# delete
is call('DELETE', "/admin/keys/$key->{id}")->{status}, 204, 'DELETE: 204';
is call('GET', "/admin/keys/$key->{id}")->{status}, 404, 'then 404';
is call('DELETE', "/admin/keys/$key->{id}")->{status}, 404, 'deleting again: 404';
is $redis->cmd('EXISTS', "apikey:key:{$key->{id}}"), '0', 'gone from Redis';
$res = call('GET', "/admin/keys/$key->{id}/audit");
is $res->{status}, 200, "a deleted key's audit is still there";
is $res->{json}{events}[0]{action}, 'delete', '... with the delete first';

# errors
for my $c (
    ['POST', '/admin/keys', '{"name":', 400, 'invalid_request', 'malformed JSON'],
    ['POST', '/admin/keys', '[]', 400, 'invalid_request', 'not an object'],
    ['POST', '/admin/keys', {scopes => ['x']}, 400, 'invalid_request', 'name missing'],
    ['POST', '/admin/keys', {name => 'x', scopes => ['a b']}, 400, 'invalid_request', 'bad scope'],
    ['POST', '/admin/keys', {name => 'x', expires_in => 'soon'}, 400, 'invalid_request', 'bad duration'],
    ['POST', '/admin/keys', {name => 'x', limits => ['7r/w']}, 400, 'invalid_request', 'bad limit'],
    ['POST', '/admin/keys', {name => 'x', colour => 'red'}, 400, 'invalid_request', 'unknown member'],
    ['POST', '/admin/keys', {name => 'x' x 20000}, 400, 'invalid_request', 'oversized body'],
    ['GET', '/admin/keys?status=sleeping', undef, 400, 'invalid_request', 'bad status filter'],
    ['GET', '/admin/keys?name_prefix=' . ('%C3%A9' x 129), undef, 400, 'invalid_request', 'name_prefix of 129 characters'],
    ['GET', '/admin/keys?name_prefix=', undef, 400, 'invalid_request', 'an empty name_prefix'],
    ['GET', '/admin/keys/zzzzzzzzzzzz', undef, 404, 'not_found', 'unknown id'],
    ['PATCH', '/admin/keys/zzzzzzzzzzzz', {name => 'y'}, 404, 'not_found', 'patch unknown id'],
    ['POST', '/admin/keys/zzzzzzzzzzzz/revoke', '{}', 404, 'not_found', 'revoke unknown id'],
    ['POST', '/admin/keys/zzzzzzzzzzzz/rotate', '{}', 404, 'not_found', 'rotate unknown id'],
    ['DELETE', '/admin/keys/zzzzzzzzzzzz', undef, 404, 'not_found', 'delete unknown id'],
    ['GET', '/admin/keys/zzzzzzzzzzzz/audit', undef, 404, 'not_found', 'audit unknown id'],
    ['GET', '/admin/keys/NOT-AN-ID', undef, 404, 'not_found', 'not an id'],
    ['PUT', '/admin/keys', '{}', 405, 'method_not_allowed', 'PUT'],
    ['PATCH', '/admin/keys/zzzzzzzzzzzz', '{}', 400, 'invalid_request', 'PATCH {}: nothing to change'],
    ['PATCH', '/admin/keys/zzzzzzzzzzzz', {reason => 'why'}, 400, 'invalid_request', 'PATCH with only a reason'],
    ['POST', '/admin/keys', {name => "\x{e9}" x 129}, 400, 'invalid_request', 'a name of 129 characters'],
    ['POST', '/admin/keys', {name => 'x', reason => "\x{e9}" x 1025}, 400, 'invalid_request', 'a reason of 1025 characters'],
) {
    my ($m, $p, $b, $status, $code, $what) = @$c;
    my $r = call($m, $p, $b);
    is $r->{status}, $status, "$what: $status";
    is(($r->{json} // {})->{error}, $code, "$what: $code");
}

# a name and a reason are counted in characters (code points), as the
# OpenAPI schema's maxLength counts them, not in bytes
$res = call('POST', '/admin/keys', {name => "\x{e9}" x 128, reason => "\x{e9}" x 1024});
is $res->{status}, 201, 'a name of 128 two-byte characters and a reason of 1024: accepted';
is length $res->{json}{name}, 128, 'the name kept whole';
call('DELETE', "/admin/keys/$res->{json}{id}");

# who may call it: an admin key by default
my @JSON = ('Content-Type' => 'application/json');
my $admin = $redis->create_key(name => 'admin key', scopes => ['keys:admin']);
my $plain = $redis->create_key(name => 'no admin', scopes => ['read', 'admin']);
my $root_count = sub { scalar grep { $_->{name} eq 'never made' } @{ call('GET', '/admin/keys?limit=200')->{json}{keys} } };
for my $c (
    ['/admin/', undef, 401, 'no key'],
    ['/admin/', $plain->{token}, 403, 'a key without the superscope'],
    ['/admin/', $admin->{token}, 403, 'a key with another scope than the superscope'],
    ['/keyadmin/', undef, 401, 'scope=: no key'],
    ['/keyadmin/', $plain->{token}, 403, 'scope=: a key without keys:admin'],
) {
    my ($loc, $token, $status, $what) = @$c;
    my @key = defined $token ? ('X-API-Key' => $token) : ();
    is $nginx->get("${loc}keys", @key)->{status}, $status, "$what: GET keys answers $status";
    $res = $nginx->request('POST', "${loc}keys", @key, @JSON, ':body' => '{"name":"never made"}');
    is $res->{status}, $status, "$what: POST keys answers $status";
    like ApikeyTest::Nginx::header($res, 'Content-Type'), qr{^application/json}, "$what: in JSON";
}
is $root_count->(), 0, 'and no key was made';
is $nginx->get('/admin/', )->{status}, 200, 'the page itself needs no key (its API calls do)';
is $nginx->get('/admin/keys/openapi.json')->{status}, 200, 'nor does the OpenAPI document';
for my $carrier (['X-API-Key' => $ROOT->{token}], ['X-Api-Token' => $ROOT->{token}],
                 ['Authorization' => "Bearer $ROOT->{token}"]) {
    is $nginx->get('/admin/keys', @$carrier)->{status}, 200, "the admin key in $carrier->[0]: 200";
}
is $nginx->get('/keyadmin/keys', 'X-API-Key' => $ROOT->{token})->{status}, 403,
    'scope=: a superscope of another location does not count here';
$res = $nginx->request('POST', '/keyadmin/keys', 'X-API-Key' => $admin->{token}, @JSON,
                       ':body' => '{"name":"made by an admin key"}');
is $res->{status}, 201, 'scope=: a key with keys:admin is allowed';
my $made = json_of($res->{body});
$res = call('GET', "/admin/keys/$made->{id}/audit");
is $res->{json}{events}[0]{user}, "key:$admin->{id}", 'caller: the admin key';

# auth=off: guarded the nginx way
is $nginx->get('/openadmin/keys', 'X-Forwarded-For' => '10.1.1.1')->{status}, 200, 'auth=off: allow 127.0.0.1';
$res = $nginx->request('POST', '/openadmin/keys', @JSON, ':body' => '{"name":"by address"}');
is $res->{status}, 201, 'auth=off: no key needed';
$res = call('GET', "/admin/keys/@{[ json_of($res->{body})->{id} ]}/audit");
is $res->{json}{events}[0]{user}, 'addr:127.0.0.1', 'caller: the client address';
$res = $nginx->request('POST', '/basicadmin/keys', 'Authorization' => 'Basic YWxpY2U6c2VjcmV0', @JSON,
                       ':body' => '{"name":"made by alice"}');
my $alice = json_of($res->{body});
$res = call('GET', "/admin/keys/$alice->{id}/audit");
is $res->{json}{events}[0]{user}, 'alice', 'caller: the basic-auth user';
is $nginx->request('POST', '/basicadmin/keys', 'Authorization' => 'Basic YWxpY2U6d3Jvbmc=', @JSON,
                   ':body' => '{"name":"x"}')->{status}, 401, 'a wrong password: nginx says 401';
$res = $nginx->request('POST', '/keyadmin/keys', 'X-API-Key' => $admin->{token}, @JSON,
                       'Authorization' => 'Basic bWFsbG9yeTp4', ':body' => '{"name":"not mallory"}');
my $not_mallory = json_of($res->{body});
$res = call('GET', "/admin/keys/$not_mallory->{id}/audit");
is $res->{json}{events}[0]{user}, "key:$admin->{id}",
    'caller: the verified admin key, not a basic-auth name sent beside it';

# SCRIPT FLUSH (a restarted Redis, an operator): the admin call's NOSCRIPT
# loads the scripts again and the call is sent again, once, unseen by the
# caller; auth=off, so that no key check reloads them first
$redis->cmd('SCRIPT', 'FLUSH');
my $noscript_before = ($redis->cmd('INFO', 'errorstats') =~ /errorstat_NOSCRIPT:count=(\d+)/)[0] // 0;
$res = $nginx->request('POST', '/openadmin/keys', @JSON, ':body' => '{"name":"after a flush"}');
is $res->{status}, 201, 'after SCRIPT FLUSH: the admin call is answered';
my $noscript_after = ($redis->cmd('INFO', 'errorstats') =~ /errorstat_NOSCRIPT:count=(\d+)/)[0] // 0;
is $noscript_after - $noscript_before, 1, '... after one NOSCRIPT, sent again once';
is $nginx->get('/api/x', 'X-API-Key' => json_of($res->{body})->{token})->{status}, 403,
    '... and the key it made is known (403: no read scope)';

# Redis down: 503, never a hang
$redis->stop;
$res = call('GET', '/admin/keys');
is $res->{status}, 503, 'Redis down: 503';
is $res->{json}{error}, 'auth_unavailable', 'auth_unavailable';

$nginx->stop;

my ($ok, $out) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379',
    server => 'location ~ ^/admin { apikey_admin auth=off; }');
ok !$ok, 'apikey_admin in a regex location is refused';
like $out, qr/needs a prefix location/, 'with a clear message';

# nginx -t: an admin location that checks keys must know which scope makes an admin
($ok, $out) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379',
    server => 'location /admin/ { apikey_admin; }');
ok !$ok, 'apikey_admin with neither a superscope nor scope=: nginx -t fails';
like $out, qr/"apikey_admin" needs the scope an admin key must hold/, 'with a clear message';
for my $c (['apikey_superscope root; apikey_admin;', 'a superscope'],
           ['apikey_admin scope=keys:admin;', 'scope='],
           ['apikey_admin auth=off;', 'auth=off']) {
    ($ok, $out) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379',
        server => "location /admin/ { $c->[0] }");
    ok $ok, "apikey_admin with $c->[1]: nginx -t passes" or diag $out;
}
($ok, $out) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379',
    server => 'location /admin/ { apikey_admin auth=off; }');
like $out, qr/\[warn\] (?:\d+#\d+: )?"apikey_admin auth=off": the admin API at location "\/admin\/" checks no admin key/,
    'auth=off: a warning at start-up (and nginx -t) naming the location';
for my $c (['apikey off; apikey_admin scope=a;', qr/cannot be used with "apikey off"/],
           ['apikey_admin scope=a;  apikey_admin scope=a;', qr/is duplicate/],
           ['apikey_admin auth=maybe;', qr/invalid parameter "auth=maybe"/],
           ['apikey_admin scope=;', qr/invalid scope/]) {
    ($ok, $out) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379',
        server => "location /admin/ { $c->[0] }");
    ok !$ok, "$c->[0] is refused";
    like $out, $c->[1], '... with a clear message';
}

done_testing;
