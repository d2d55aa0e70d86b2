# src/admin/openapi.json against the recommended rules of a linter nobody here
# wrote (redocly lint), and against the live API: every response of a run
# through every operation and every error is validated by ajv with the
# document's own schemas (t/openapi/validate-live.mjs). The tools are npm
# packages installed into build/openapi from t/openapi/package-lock.json.
use strict;
use warnings;
use lib 't/lib';
use File::Compare qw(compare);
use File::Copy qw(copy);
use File::Path qw(make_path);
use File::Temp ();
use JSON::PP;
use Test::More;
use ApikeyTest;
use POSIX ();

my ($node_major) = (`node --version 2>/dev/null` // '') =~ /^v(\d+)\./;
plan skip_all => 'no node' unless $node_major;
plan skip_all => "node $node_major is too old: \@redocly/cli needs 20 or newer" if $node_major < 20;

my $root = root();
my $tools = "$root/build/openapi";
my $spec = "$root/src/admin/openapi.json";

# npm ci into build/openapi from the committed lock, once: reused while the
# lock is unchanged
sub install_tools {
    my $installed = "$tools/node_modules/.bin/redocly";
    return 1 if -x $installed && -f "$tools/node_modules/ajv-formats/package.json"
             && compare("$root/t/openapi/package-lock.json", "$tools/package-lock.json") == 0
             && compare("$root/t/openapi/package.json", "$tools/package.json") == 0;
    make_path($tools);
    copy("$root/t/openapi/$_", "$tools/$_") or die "copy $_: $!" for qw(package.json package-lock.json);
    my $out = `npm ci --prefix '$tools' --ignore-scripts --no-audit --no-fund 2>&1`;
    if ($? != 0) {
        unlink "$tools/package-lock.json";   # try again next time
        return (0, $out);
    }
    return -x $installed;
}
my ($installed, $npm_out) = install_tools();
plan skip_all => "npm could not install \@redocly/cli and ajv (is the npm registry reachable?):\n$npm_out"
    unless $installed;

# --- the linter -----------------------------------------------------------------
{
    local $ENV{REDOCLY_TELEMETRY} = 'off';
    local $ENV{REDOCLY_SUPPRESS_UPDATE_NOTICE} = 'true';
    my $out = `'$tools/node_modules/.bin/redocly' lint --config '$root/t/openapi/redocly.yaml' --format=summary '$spec' 2>&1`;
    is $?, 0, 'redocly lint with the recommended rules: no error' or diag $out;
    my @warnings = $out =~ /^warning\s+(\S+):/mg;
    # the project has declared no license yet, so the license object has no url
    is_deeply [grep { $_ ne 'info-license-strict' } @warnings], [], 'and no warning but the license url'
        or diag $out;
}

# --- the live API ---------------------------------------------------------------
my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    server => <<'EOF',
        location /admin/ {
            apikey_superscope root;
            apikey_limit 60000r/m burst=1000;
            apikey_admin;
        }
        location /tight/ {
            apikey_superscope root;
            apikey_limit 1r/m burst=1;
            apikey_admin;
        }
EOF
);
my $J = JSON::PP->new->utf8->canonical;
my $admin = $redis->create_key(name => 'root', scopes => ['root']);
my $plain = $redis->create_key(name => 'plain', scopes => ['read']);
my @KEY = ('X-API-Key' => $admin->{token});
my @JSON = ('Content-Type' => 'application/json');
my @seen;

# one exchange, recorded for the validator; the path is relative to the location
sub exchange {
    my ($status, $method, $path, @headers) = @_;
    my ($location, $rel) = $path =~ m{^(/[^/]+/)(.*)$};
    my $res = $nginx->request($method, $path, @headers);
    is $res->{status}, $status, "$method $path: $status";
    my %h = map { $_ => $res->{headers}{$_}[0] } keys %{ $res->{headers} };
    push @seen, { method => $method, path => $rel, status => 0 + $res->{status}, headers => \%h,
                  body => $res->{body} // '' };
    return ApikeyTest::json_of($res->{body});
}

exchange(200, 'GET', '/admin/');
exchange(200, 'GET', '/admin/index.html');
exchange(200, 'GET', '/admin/keys/openapi.json');
exchange(405, 'POST', '/admin/', @JSON, ':body' => '{}');
exchange(405, 'DELETE', '/admin/keys/openapi.json', @KEY, @JSON);
exchange(200, 'GET', '/admin/keys', @KEY);
exchange(200, 'GET', '/admin/keys?limit=1&status=active', @KEY);
exchange(400, 'GET', '/admin/keys?status=sleeping', @KEY);
exchange(401, 'GET', '/admin/keys');
exchange(401, 'GET', '/admin/keys', 'X-API-Key' => 'ak_000000000000_nope');
exchange(403, 'GET', '/admin/keys', 'X-API-Key' => $plain->{token});
exchange(403, 'GET', '/admin/keys', @KEY, 'Origin' => 'http://evil.example');
exchange(405, 'PUT', '/admin/keys', @KEY, @JSON, ':body' => '{}');
my $key = exchange(201, 'POST', '/admin/keys', @KEY, @JSON,
                   ':body' => $J->encode({name => 'live', scopes => ['read'], limits => ['10r/s'], reason => 'test'}));
exchange(201, 'POST', '/admin/keys', @KEY, @JSON, ':body' => '{"name":"never","expires_in":"never"}');
exchange(400, 'POST', '/admin/keys', @KEY, @JSON, ':body' => '{"name":');
exchange(400, 'POST', '/admin/keys', @KEY, @JSON, ':body' => '{"name":"x","colour":"red"}');
exchange(415, 'POST', '/admin/keys', @KEY, 'Content-Type' => 'text/plain', ':body' => '{"name":"x"}');
exchange(403, 'POST', '/admin/keys', @KEY, @JSON, 'Sec-Fetch-Site' => 'cross-site', ':body' => '{"name":"x"}');
exchange(401, 'POST', '/admin/keys', @JSON, ':body' => '{"name":"x"}');
my $id = $key->{id} // 'zzzzzzzzzzzz';
exchange(200, 'GET', "/admin/keys/$id", @KEY);
exchange(404, 'GET', '/admin/keys/zzzzzzzzzzzz', @KEY);
exchange(405, 'POST', "/admin/keys/$id", @KEY, @JSON, ':body' => '{}');
exchange(200, 'PATCH', "/admin/keys/$id", @KEY, @JSON, ':body' => '{"name":"renamed","expires_in":"30d"}');
exchange(400, 'PATCH', "/admin/keys/$id", @KEY, @JSON, ':body' => '{}');
exchange(404, 'PATCH', '/admin/keys/zzzzzzzzzzzz', @KEY, @JSON, ':body' => '{"name":"y"}');
exchange(415, 'PATCH', "/admin/keys/$id", @KEY, 'Content-Type' => 'application/x-www-form-urlencoded', ':body' => 'name=y');
exchange(200, 'POST', "/admin/keys/$id/rotate", @KEY, @JSON, ':body' => '{"grace":"1h"}');
exchange(400, 'POST', "/admin/keys/$id/rotate", @KEY, @JSON, ':body' => '{"grace":"soon"}');
exchange(404, 'POST', '/admin/keys/zzzzzzzzzzzz/rotate', @KEY, @JSON, ':body' => '{}');
exchange(405, 'GET', "/admin/keys/$id/rotate", @KEY);
exchange(200, 'GET', "/admin/keys/$id", @KEY);   # with its previous token in the grace
exchange(200, 'POST', "/admin/keys/$id/revoke", @KEY, @JSON, ':body' => '{"reason":"done"}');
exchange(409, 'POST', "/admin/keys/$id/revoke", @KEY, @JSON, ':body' => '{}');
exchange(409, 'POST', "/admin/keys/$id/rotate", @KEY, @JSON, ':body' => '{}');
exchange(400, 'POST', "/admin/keys/$id/revoke", @KEY, @JSON, ':body' => '{"grace":"1h"}');
exchange(415, 'POST', "/admin/keys/$id/revoke", @KEY, ':body' => '{}');
$redis->cmd('HSET', "apikey:usage:{$id}:" . POSIX::strftime('%Y%m%d', gmtime), 'ok', 3, 'limited', 1);
exchange(200, 'GET', "/admin/keys/$id/usage", @KEY);
exchange(200, 'GET', "/admin/keys/$id/usage?days=7", @KEY);
exchange(400, 'GET', "/admin/keys/$id/usage?days=0", @KEY);
exchange(404, 'GET', '/admin/keys/zzzzzzzzzzzz/usage', @KEY);
exchange(405, 'POST', "/admin/keys/$id/usage", @KEY, @JSON, ':body' => '{}');
exchange(200, 'POST', "/admin/keys/$id/limits/reset", @KEY, @JSON, ':body' => '{"reason":"ticket 4711"}');
exchange(200, 'POST', "/admin/keys/$id/limits/reset", @KEY, @JSON);
exchange(400, 'POST', "/admin/keys/$id/limits/reset", @KEY, @JSON, ':body' => '{"grace":"1h"}');
exchange(404, 'POST', '/admin/keys/zzzzzzzzzzzz/limits/reset', @KEY, @JSON, ':body' => '{}');
exchange(405, 'GET', "/admin/keys/$id/limits/reset", @KEY);
exchange(415, 'POST', "/admin/keys/$id/limits/reset", @KEY, ':body' => '{}');
# calendar quotas and credits
exchange(200, 'POST', "/admin/keys/$id/credits", @KEY, @JSON, ':body' => '{"set":10,"reason":"renewal"}');
exchange(200, 'POST', "/admin/keys/$id/credits", @KEY, @JSON, ':body' => '{"add":-3}');
exchange(409, 'POST', "/admin/keys/$id/credits", @KEY, @JSON, ':body' => '{"add":-100}');
exchange(400, 'POST', "/admin/keys/$id/credits", @KEY, @JSON, ':body' => '{}');
exchange(404, 'POST', '/admin/keys/zzzzzzzzzzzz/credits', @KEY, @JSON, ':body' => '{"set":1}');
exchange(405, 'GET', "/admin/keys/$id/credits", @KEY);
exchange(415, 'POST', "/admin/keys/$id/credits", @KEY, ':body' => '{"set":1}');
my $metered = exchange(201, 'POST', '/admin/keys', @KEY, @JSON,
    ':body' => '{"name":"metered","quota":"1000000/month 500/day","credits":5,"refill":"100/month"}');
exchange(200, 'PATCH', "/admin/keys/$metered->{id}", @KEY, @JSON, ':body' => '{"quota":null,"refill":null}')
    if $metered->{id};
exchange(200, 'PATCH', "/admin/keys/$metered->{id}", @KEY, @JSON, ':body' => '{"credits":null,"quota":"9/week"}')
    if $metered->{id};
exchange(400, 'POST', '/admin/keys', @KEY, @JSON, ':body' => '{"name":"x","quota":"5/year"}');
exchange(200, 'GET', "/admin/keys/$id/audit", @KEY);
exchange(200, 'GET', "/admin/keys/$id/audit?limit=2", @KEY);
exchange(400, 'GET', "/admin/keys/$id/audit?limit=0", @KEY);
exchange(404, 'GET', '/admin/keys/zzzzzzzzzzzz/audit', @KEY);
exchange(415, 'DELETE', "/admin/keys/$id", @KEY);
exchange(204, 'DELETE', "/admin/keys/$id", @KEY, @JSON);
exchange(404, 'DELETE', "/admin/keys/$id", @KEY, @JSON);
# the key model: roles, plans, owners, disable and enable, the list's order and filters
exchange(201, 'POST', '/admin/roles', @KEY, @JSON, ':body' => '{"name":"reader","scopes":["read"],"description":"r"}');
exchange(409, 'POST', '/admin/roles', @KEY, @JSON, ':body' => '{"name":"reader","scopes":["read"]}');
exchange(400, 'POST', '/admin/roles', @KEY, @JSON, ':body' => '{"name":"Reader","scopes":["read"]}');
exchange(200, 'GET', '/admin/roles', @KEY);
exchange(200, 'GET', '/admin/roles/reader', @KEY);
exchange(404, 'GET', '/admin/roles/nobody', @KEY);
exchange(200, 'PATCH', '/admin/roles/reader', @KEY, @JSON, ':body' => '{"scopes":["read","list"]}');
exchange(405, 'PUT', '/admin/roles/reader', @KEY, @JSON, ':body' => '{}');
exchange(201, 'POST', '/admin/plans', @KEY, @JSON, ':body' => '{"name":"pro","limits":["600r/m"]}');
exchange(200, 'GET', '/admin/plans', @KEY);
exchange(200, 'GET', '/admin/plans/pro', @KEY);
exchange(200, 'PATCH', '/admin/plans/pro', @KEY, @JSON, ':body' => '{"description":"the paid tier"}');
exchange(200, 'PATCH', '/admin/plans/pro', @KEY, @JSON, ':body' => '{"quota":"1000/day"}');
exchange(201, 'POST', '/admin/plans', @KEY, @JSON, ':body' => '{"name":"quota-only","quota":"5/month"}');
my $modelled = exchange(201, 'POST', '/admin/keys', @KEY, @JSON, ':body' => $J->encode({
    name => 'modelled', owner => 'acct_42', role => 'reader', plan => 'pro', env => 'test',
    meta => {tenant => 't-42'}, allow_ip => ['203.0.113.7', '2001:db8::/32']}));
exchange(409, 'POST', '/admin/keys', @KEY, @JSON, ':body' => '{"name":"x","role":"nobody"}');
my $mid = $modelled->{id} // 'zzzzzzzzzzzz';
exchange(200, 'PATCH', "/admin/keys/$mid", @KEY, @JSON, ':body' => '{"meta":{"tenant":null},"allow_ip":null,"owner":"acct_43"}');
exchange(409, 'PATCH', "/admin/keys/$mid", @KEY, @JSON, ':body' => '{"plan":"nothing"}');
exchange(200, 'POST', "/admin/keys/$mid/rotate", @KEY, @JSON, ':body' => '{}');
exchange(200, 'POST', "/admin/keys/$mid/disable", @KEY, @JSON, ':body' => '{"reason":"left"}');
exchange(409, 'POST', "/admin/keys/$mid/disable", @KEY, @JSON, ':body' => '{}');
exchange(200, 'GET', '/admin/keys?status=disabled&owner=acct_43&role=reader&plan=pro&env=test', @KEY);
exchange(200, 'POST', "/admin/keys/$mid/enable", @KEY, @JSON);
exchange(409, 'POST', "/admin/keys/$mid/enable", @KEY, @JSON, ':body' => '{}');
exchange(405, 'GET', "/admin/keys/$mid/enable", @KEY);
exchange(404, 'POST', '/admin/keys/zzzzzzzzzzzz/disable', @KEY, @JSON, ':body' => '{}');
exchange(415, 'POST', "/admin/keys/$mid/disable", @KEY, ':body' => '{}');
my $page = exchange(200, 'GET', '/admin/keys?sort=name&order=asc&limit=1&search=e', @KEY);
exchange(200, 'GET', "/admin/keys?sort=name&order=asc&limit=1&search=e&cursor=$page->{next_cursor}", @KEY)
    if defined $page->{next_cursor};
exchange(200, 'GET', '/admin/keys?sort=expires', @KEY);
exchange(200, 'GET', '/admin/keys?sort=last_used&order=asc', @KEY);
exchange(400, 'GET', '/admin/keys?sort=colour', @KEY);
exchange(409, 'DELETE', '/admin/roles/reader', @KEY, @JSON);
exchange(409, 'DELETE', '/admin/plans/pro', @KEY, @JSON);
exchange(200, 'POST', '/admin/owners/acct_43/revoke', @KEY, @JSON, ':body' => '{"reason":"customer left"}');
exchange(405, 'GET', '/admin/owners/acct_43/revoke', @KEY);
exchange(200, 'PATCH', "/admin/keys/$mid", @KEY, @JSON, ':body' => '{"role":null,"plan":null}');
exchange(204, 'DELETE', '/admin/roles/reader', @KEY, @JSON);
exchange(204, 'DELETE', '/admin/plans/pro', @KEY, @JSON);
exchange(404, 'DELETE', '/admin/plans/pro', @KEY, @JSON);
# ?wait=: no worker announced (no apikey_cache here), nothing to wait for:
# 200 with the report; one announced by hand that never answers: 202 naming it
{
    my $w = $redis->create_key(name => 'waited');
    exchange(200, 'POST', "/admin/keys/$w->{id}/disable?wait=1s", @KEY, @JSON, ':body' => '{}');
    exchange(400, 'POST', "/admin/keys/$w->{id}/revoke?wait=forever", @KEY, @JSON, ':body' => '{}');
    $redis->cmd('ZADD', 'apikey:workers', '99999999999999', 'ghost:1:2');
    exchange(202, 'POST', "/admin/keys/$w->{id}/rotate?wait=200ms", @KEY, @JSON, ':body' => '{}');
    exchange(202, 'POST', "/admin/keys/$w->{id}/revoke?wait=200ms", @KEY, @JSON, ':body' => '{}');
    exchange(202, 'DELETE', "/admin/keys/$w->{id}?wait=200ms", @KEY, @JSON);
    $redis->cmd('DEL', 'apikey:workers');
    $w = $redis->create_key(name => 'waited 2');
    exchange(200, 'POST', "/admin/keys/$w->{id}/rotate?wait=1s", @KEY, @JSON, ':body' => '{}');
    exchange(200, 'POST', "/admin/keys/$w->{id}/revoke?wait=1s", @KEY, @JSON, ':body' => '{}');
    exchange(200, 'DELETE', "/admin/keys/$w->{id}?wait=1s", @KEY, @JSON);
}
exchange(200, 'GET', '/tight/keys', @KEY);
exchange(429, 'GET', '/tight/keys', @KEY);
$redis->stop;
exchange(503, 'GET', '/admin/keys', @KEY);
exchange(503, 'POST', '/admin/keys', @KEY, @JSON, ':body' => '{"name":"x"}');
$nginx->stop;

my $file = File::Temp->new(SUFFIX => '.json');
print $file $J->encode(\@seen);
close $file;
{
    local $ENV{NODE_PATH} = "$tools/node_modules";
    my $out = `node '$root/t/openapi/validate-live.mjs' '$spec' '@{[ $file->filename ]}' 2>&1`;
    is $?, 0, 'every live response is documented on its operation and fits its schema (ajv)' or diag $out;
    print $out if $? == 0;
}

done_testing;
