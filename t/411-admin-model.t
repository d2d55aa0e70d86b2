# The admin API and the key model (issue 14): roles and plans as resources,
# owner, role, plan, env, meta and allow_ip on keys, disable and enable,
# revoke by owner, and the list's filters, order, search and cursor, all
# through the same admin script apikeyctl uses, with the admin API's security
# rules (admin key, JSON-only writes, Origin, 405 with Allow, the audit naming
# the acting key) on every new route.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
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
        location /live/ {
            apikey on;
            apikey_env live;
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
EOF
);
sleep 0.4;

my $J = JSON::PP->new->utf8->canonical;
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

# the status a token gets, waiting up to 1.5 s for it (apikey_cache)
sub eventually {
    my ($token, $want) = @_;
    my ($t0, $st) = (time);
    do { $st = api_status($token); sleep 0.05 } while ($st != $want && time - $t0 < 1.5);
    return $st;
}

sub names { [map { $_->{name} } @{ $_[0]{json}{keys} }] }

# --- roles: named scope sets -------------------------------------------------
my $res = call('POST', '/admin/roles', {name => 'reader', scopes => ['read'],
                                         description => 'reads things', reason => 'x'});
is $res->{status}, 400, 'POST roles: no "reason" member (unknown members are refused)';
$res = call('POST', '/admin/roles', {name => 'reader', scopes => ['read'], description => 'reads things'});
is $res->{status}, 201, 'POST roles: 201';
is_deeply $res->{json}, {name => 'reader', scopes => ['read'], description => 'reads things',
                         keys => 0, created_at => $res->{json}{created_at},
                         updated_at => $res->{json}{updated_at}}, 'the role';
like $res->{json}{created_at}, qr/^\d{4}-\d\d-\d\dT/, 'with its creation time';
is call('POST', '/admin/roles', {name => 'reader', scopes => ['x']})->{status}, 409,
    'POST roles with a name that exists: 409';
is $redis->cmd('HGET', 'apikey:role:reader', 'scopes'), 'read', 'stored as apikeyctl stores it';
my (undef, $cli_roles) = $redis->cli('role', 'list', '--json');
is_deeply [map { $_->{name} } @{ json_of($cli_roles) }], ['reader'], 'apikeyctl role list sees it';
$redis->cli('role', 'create', 'writer', '--scope', 'write');
$res = call('GET', '/admin/roles');
is $res->{status}, 200, 'GET roles';
is_deeply [map { $_->{name} } @{ $res->{json}{roles} }], ['reader', 'writer'],
    'every role, by name, apikeyctl made or not';
is call('GET', '/admin/roles/writer')->{json}{scopes}[0], 'write', 'GET roles/{name}';
is call('GET', '/admin/roles/nobody')->{status}, 404, 'GET roles/{name} of no role: 404';

# --- plans: named limit sets -------------------------------------------------
$res = call('POST', '/admin/plans', {name => 'free', limits => ['600r/m'], description => 'the free tier'});
is $res->{status}, 201, 'POST plans: 201';
is_deeply $res->{json}{limits}, ['600r/m:600'], 'the plan, its limits formatted';
call('POST', '/admin/plans', {name => 'pro', limits => ['6000r/m:100']});
is_deeply [map { $_->{name} } @{ call('GET', '/admin/plans')->{json}{plans} }], ['free', 'pro'],
    'GET plans';

# --- a key with the whole model ----------------------------------------------
$res = call('POST', '/admin/keys', {name => 'acme test', owner => 'acct_42', role => 'reader',
                                    plan => 'free', env => 'test',
                                    meta => {tenant => 't-42', tier => 'gold'},
                                    allow_ip => ['127.0.0.1', '2001:db8::1/32']});
is $res->{status}, 201, 'POST keys with owner, role, plan, env, meta and allow_ip';
my $acme = $res->{json};
like $acme->{token}, qr/^ak_test_[0-9a-z]{12}_/, 'env test: the token says so';
is $acme->{owner}, 'acct_42', 'owner';
is $acme->{role}, 'reader', 'role';
is $acme->{plan}, 'free', 'plan';
is $acme->{env}, 'test', 'env';
is_deeply $acme->{meta}, {tenant => 't-42', tier => 'gold'}, 'meta';
is_deeply $acme->{allow_ip}, ['127.0.0.1/32', '2001:db8::/32'], 'allow_ip, canonical';
is $acme->{status}, 'active', 'status';
is_deeply [@{ $acme->{scopes} }], [], 'no scopes of its own';
is $redis->cmd('HGET', "apikey:key:{$acme->{id}}", 'role_scopes'), 'read',
    "the role's scopes copied into the record";
is api_status($acme->{token}), 200, "the role's scope lets it read";
is $nginx->get('/live/x', 'X-API-Key' => $acme->{token})->{status}, 403,
    'a test key where apikey_env live: 403';
my (undef, $shown) = $redis->cli('show', $acme->{id}, '--json');
is_deeply json_of($shown), call('GET', "/admin/keys/$acme->{id}")->{json},
    'apikeyctl show --json and GET keys/{id} print the same object';

# rotate keeps the environment
$res = call('POST', "/admin/keys/$acme->{id}/rotate", '{}');
like $res->{json}{token}, qr/^ak_test_$acme->{id}_/, 'rotating a test key: a test token';
is eventually($res->{json}{token}, 200), 200, 'and it works';
$acme->{token} = $res->{json}{token};

# patch: only what is named changes; null removes
$res = call('PATCH', "/admin/keys/$acme->{id}", {meta => {tier => undef, region => 'eu'},
                                                 allow_ip => undef, owner => 'acct_43'});
is $res->{status}, 200, 'PATCH meta, allow_ip and owner';
is_deeply $res->{json}{meta}, {tenant => 't-42', region => 'eu'}, 'meta: merged, null removes one';
is_deeply $res->{json}{allow_ip}, [], 'allow_ip null: any address';
is $res->{json}{owner}, 'acct_43', 'owner changed';
is $res->{json}{role}, 'reader', 'the role untouched';
$res = call('PATCH', "/admin/keys/$acme->{id}", {role => 'nobody'});
is $res->{status}, 409, 'PATCH to a role that does not exist: 409';
is $res->{json}{error}, 'conflict', 'conflict';
like $res->{json}{message}, qr/no role "nobody"/, 'saying which';
$res = call('POST', '/admin/keys', {name => 'x', plan => 'nothing'});
is $res->{status}, 409, 'POST keys with a plan that does not exist: 409';
is call('PATCH', "/admin/keys/$acme->{id}", {owner => 'acct_42'})->{status}, 200, 'owner back';

# a role change reaches the key within a second, through the cache
is api_status($acme->{token}), 200, 'reads (cached)';
$res = call('PATCH', '/admin/roles/reader', {scopes => ['other']});
is $res->{status}, 200, 'PATCH roles/{name}';
is $res->{json}{keys}, 1, 'one key uses it';
is eventually($acme->{token}, 403), 403, "the role's new scopes apply to its key within a second";
call('PATCH', '/admin/roles/reader', {scopes => ['read']});
is eventually($acme->{token}, 200), 200, 'and back';
is call('PATCH', '/admin/roles/reader', {description => 'only the text'})->{json}{scopes}[0], 'read',
    'PATCH with only a description keeps the scopes';

# delete refused while keys use it
$res = call('DELETE', '/admin/roles/reader');
is $res->{status}, 409, 'DELETE a role a key uses: 409';
like $res->{json}{message}, qr/1 key/, 'saying how many keys';
is call('DELETE', '/admin/plans/free')->{status}, 409, 'DELETE a plan a key uses: 409';
is call('DELETE', '/admin/roles/writer')->{status}, 204, 'DELETE an unused role: 204';
is call('GET', '/admin/roles/writer')->{status}, 404, 'then it is gone';
is call('DELETE', '/admin/roles/writer')->{status}, 404, 'deleting again: 404';

# --- disable and enable ------------------------------------------------------
$res = call('POST', "/admin/keys/$acme->{id}/disable", {reason => 'left the team'});
is $res->{status}, 200, 'POST keys/{id}/disable';
is $res->{json}{status}, 'disabled', 'status disabled';
is eventually($acme->{token}, 401), 401, 'a disabled key is refused within a second';
is call('POST', "/admin/keys/$acme->{id}/disable", '{}')->{status}, 409, 'disabling twice: 409';
is_deeply names(call('GET', '/admin/keys?status=disabled')), ['acme test'], 'list ?status=disabled';
$res = call('POST', "/admin/keys/$acme->{id}/enable", '');
is $res->{status}, 200, 'POST keys/{id}/enable, with an empty JSON body';
is $res->{json}{status}, 'active', 'active again';
is eventually($acme->{token}, 200), 200, 'and accepted again';
is call('POST', "/admin/keys/$acme->{id}/enable", '{}')->{status}, 409, 'enabling an active key: 409';
is call('POST', '/admin/keys/zzzzzzzzzzzz/disable', '{}')->{status}, 404, 'disable of no key: 404';
$res = call('GET', "/admin/keys/$acme->{id}/audit");
is_deeply [map { $_->{action} } @{ $res->{json}{events} }[0 .. 1]], ['enable', 'disable'],
    'both audited';
is $res->{json}{events}[1]{reason}, 'left the team', 'with the reason';
is $res->{json}{events}[1]{user}, "key:$ROOT->{id}", 'naming the admin key that acted';

# --- the list: filters, order, search, cursor --------------------------------
my @made;
for my $i (1 .. 5) {
    my $r = call('POST', '/admin/keys', {name => "Batch $i", owner => ($i % 2 ? 'acct_7' : 'acct_8'),
                                         $i <= 2 ? (plan => 'pro') : (),
                                         $i == 5 ? (env => 'test') : ()});
    push @made, $r->{json};
    sleep 1.05 if $i < 5;   # distinct creation seconds: the created order is certain
}
is_deeply names(call('GET', '/admin/keys?owner=acct_7')), ['Batch 5', 'Batch 3', 'Batch 1'],
    'owner filter, newest first by default';
is_deeply names(call('GET', '/admin/keys?plan=pro')), ['Batch 2', 'Batch 1'], 'plan filter';
is_deeply names(call('GET', '/admin/keys?role=reader')), ['acme test'], 'role filter';
is_deeply names(call('GET', '/admin/keys?env=test')), ['Batch 5', 'acme test'], 'env filter';
is_deeply names(call('GET', '/admin/keys?search=batch&sort=created&order=asc')),
    ['Batch 1', 'Batch 2', 'Batch 3', 'Batch 4', 'Batch 5'], 'search (any case), oldest first';
is_deeply names(call('GET', '/admin/keys?search=TCH%203')), ['Batch 3'], 'search inside the name';
is_deeply names(call('GET', '/admin/keys?sort=name&limit=200')),
    ['acme test', 'Batch 1', 'Batch 2', 'Batch 3', 'Batch 4', 'Batch 5', 'root'],
    'sort=name: A to Z, case-insensitive';
is_deeply names(call('GET', '/admin/keys?sort=name&order=desc&search=batch')),
    ['Batch 5', 'Batch 4', 'Batch 3', 'Batch 2', 'Batch 1'], 'sort=name&order=desc';
call('PATCH', "/admin/keys/$made[1]{id}", {expires_in => '1d'});
call('PATCH', "/admin/keys/$made[3]{id}", {expires_in => '2d'});
is_deeply [@{ names(call('GET', '/admin/keys?sort=expires&search=batch')) }[0, 1]],
    ['Batch 2', 'Batch 4'], 'sort=expires: soonest first';

# paging across the whole set, in order: not sorted within a page only
for my $sort (['created', 'desc'], ['name', 'asc']) {
    my ($by, $order) = @$sort;
    my @seen;
    my $path = "/admin/keys?sort=$by&order=$order&limit=2";
    my $pages = 0;
    while (defined $path && $pages++ < 20) {
        $res = call('GET', $path);
        last unless $res->{status} == 200;
        push @seen, @{ names($res) };
        my $next = $res->{json}{next_cursor};
        $path = defined $next ? "/admin/keys?sort=$by&order=$order&limit=2&cursor=$next" : undef;
    }
    my $whole = names(call('GET', "/admin/keys?sort=$by&order=$order&limit=200"));
    is_deeply \@seen, $whole, "sort=$by: pages of 2 give the whole list's order ($pages pages)";
    is scalar @seen, 7, '... every key once';
}
my (undef, $cli_list) = $redis->cli('list', '--json', '--sort', 'name');
is_deeply [map { $_->{name} } @{ json_of($cli_list) }],
    names(call('GET', '/admin/keys?sort=name&limit=200')),
    'apikeyctl list --sort name and GET keys?sort=name agree';

# --- revoke by owner ---------------------------------------------------------
$res = call('POST', '/admin/owners/acct_7/revoke', {reason => 'customer left'});
is $res->{status}, 200, 'POST owners/{owner}/revoke';
is_deeply [sort @{ $res->{json}{revoked} }], [sort map { $_->{id} } @made[0, 2, 4]],
    'every key of that owner revoked';
is $res->{json}{owner}, 'acct_7', 'named';
is_deeply names(call('GET', '/admin/keys?owner=acct_8&status=active')), ['Batch 4', 'Batch 2'],
    "another owner's keys untouched";
is call('GET', "/admin/keys/$made[0]{id}/audit")->{json}{events}[0]{action}, 'revoke',
    'one revoke event per key';
is call('GET', "/admin/keys/$made[0]{id}/audit")->{json}{events}[0]{reason}, 'customer left',
    'with the reason';
is call('GET', "/admin/keys/$made[4]{id}/audit")->{json}{events}[0]{user}, "key:$ROOT->{id}",
    'naming the admin key that acted';
is_deeply call('POST', '/admin/owners/acct_7/revoke', '{}')->{json}{revoked}, [],
    'again: nothing left to revoke';
is call('POST', '/admin/owners/bad%20owner/revoke', '{}')->{status}, 404, 'not an owner id: 404';

# --- errors ------------------------------------------------------------------
for my $c (
    ['POST', '/admin/keys', {name => 'x', owner => 'a b'}, 'invalid owner'],
    ['POST', '/admin/keys', {name => 'x', role => 'Big'}, 'invalid role name'],
    ['POST', '/admin/keys', {name => 'x', env => 'prod'}, 'invalid env'],
    ['POST', '/admin/keys', {name => 'x', meta => {'Bad-Name' => 'v'}}, 'invalid meta name'],
    ['POST', '/admin/keys', {name => 'x', meta => {n => 'x' x 257}}, 'meta value too long'],
    ['POST', '/admin/keys', {name => 'x', meta => {map { ("m$_" => 'v') } 1 .. 17}}, '17 meta entries'],
    ['POST', '/admin/keys', {name => 'x', meta => ['a']}, 'meta not an object'],
    ['POST', '/admin/keys', {name => 'x', allow_ip => ['10.0.0.0/33']}, 'invalid CIDR'],
    ['POST', '/admin/keys', {name => 'x', allow_ip => '10.0.0.1'}, 'allow_ip not an array'],
    ['POST', '/admin/keys', {name => 'x', allow_ip => []}, 'allow_ip empty on create'],
    ['POST', '/admin/keys', {name => 'x', owner => undef}, 'null owner on create'],
    ['PATCH', "/admin/keys/$acme->{id}", {env => 'live'}, 'env cannot change'],
    ['POST', "/admin/keys/$acme->{id}/disable", {name => 'x'}, 'disable takes only a reason'],
    ['POST', '/admin/roles', {scopes => ['a']}, 'a role without a name'],
    ['POST', '/admin/roles', {name => 'r'}, 'a role without scopes'],
    ['POST', '/admin/roles', {name => 'r', scopes => ['a b']}, 'a role with a bad scope'],
    ['POST', '/admin/roles', {name => 'R', scopes => ['a']}, 'a role with a bad name'],
    ['POST', '/admin/plans', {name => 'p', limits => ['7r/w']}, 'a plan with a bad limit'],
    ['POST', '/admin/plans', {name => 'p', scopes => ['a']}, 'a plan with scopes'],
    ['PATCH', '/admin/roles/reader', {}, 'PATCH a role with nothing'],
    ['PATCH', '/admin/roles/reader', {name => 'other'}, 'a role cannot be renamed'],
    ['GET', '/admin/keys?sort=colour', undef, 'bad sort'],
    ['GET', '/admin/keys?order=up', undef, 'bad order'],
    ['GET', '/admin/keys?env=prod', undef, 'bad env filter'],
    ['GET', '/admin/keys?owner=a%20b', undef, 'bad owner filter'],
    ['GET', '/admin/keys?cursor=not-a-cursor', undef, 'bad cursor'],
) {
    my ($m, $p, $b, $what) = @$c;
    my $r = call($m, $p, $b);
    is $r->{status}, 400, "$what: 400";
    is(($r->{json} // {})->{error}, 'invalid_request', "$what: invalid_request");
}
is call('GET', '/admin/roles/Not_A_Name')->{status}, 404, 'a role path that is no name: 404';

# --- the admin security rules on every new route -----------------------------
my @routes = (['GET', '/admin/roles'], ['POST', '/admin/roles', '{"name":"z","scopes":[]}'],
              ['GET', '/admin/roles/reader'], ['PATCH', '/admin/roles/reader', '{"description":"d"}'],
              ['DELETE', '/admin/roles/reader'], ['GET', '/admin/plans'],
              ['POST', '/admin/plans', '{"name":"z","limits":["1r/s"]}'], ['GET', '/admin/plans/pro'],
              ['PATCH', '/admin/plans/pro', '{"description":"d"}'], ['DELETE', '/admin/plans/pro'],
              ['POST', "/admin/keys/$acme->{id}/disable", '{}'],
              ['POST', "/admin/keys/$acme->{id}/enable", '{}'],
              ['POST', '/admin/owners/acct_8/revoke', '{}']);
for my $route (@routes) {
    my ($m, $p, $b) = @$route;
    my @body = defined $b ? (':body' => $b, 'Content-Type' => 'application/json') : ();
    is $nginx->request($m, $p, @body)->{status}, 401, "$m $p without a key: 401";
    next if $m eq 'GET';
    is $nginx->request($m, $p, 'X-API-Key' => $ROOT->{token}, ':body' => $b // '{}',
                       'Content-Type' => 'text/plain')->{status}, 415, "$m $p as text/plain: 415";
    is $nginx->request($m, $p, 'X-API-Key' => $ROOT->{token}, ':body' => $b // '{}',
                       'Content-Type' => 'application/json',
                       'Origin' => 'https://evil.example')->{status}, 403,
        "$m $p from another Origin: 403";
}
for my $c (['PUT', '/admin/roles', 'GET, POST'], ['POST', '/admin/roles/reader', 'GET, PATCH, DELETE'],
           ['PUT', '/admin/plans', 'GET, POST'], ['GET', "/admin/keys/$acme->{id}/disable", 'POST'],
           ['GET', "/admin/keys/$acme->{id}/enable", 'POST'], ['GET', '/admin/owners/acct_8/revoke', 'POST']) {
    my ($m, $p, $allow) = @$c;
    $res = $nginx->request($m, $p, 'Content-Type' => 'application/json', ':body' => '{}');
    is $res->{status}, 405, "$m $p: 405";
    is ApikeyTest::Nginx::header($res, 'Allow'), $allow, "... Allow: $allow";
}
is $redis->cmd('EXISTS', 'apikey:role:z'), '0', 'no refused request made a role';
is $redis->cmd('HGET', "apikey:key:{$acme->{id}}", 'status'), 'active', 'nor disabled a key';

# a role's create and delete are audited, naming the acting key
call('POST', '/admin/roles', {name => 'audited', scopes => ['a']});
call('DELETE', '/admin/roles/audited');
my (undef, $events) = $redis->cli('audit', '--json');
my @role_events = grep { $_->{id} eq 'role:audited' } @{ json_of($events) };
is_deeply [map { $_->{action} } @role_events], ['role_delete', 'role_create'], 'role changes audited';
is $role_events[0]{user}, "key:$ROOT->{id}", '... naming the admin key';
is $role_events[0]{via}, 'admin-api', '... via the admin API';

# --- many keys: the first page is one bounded Redis call ---------------------
{
    # 5,000 records and their index entries, written in Redis directly
    $redis->cmd('EVAL', <<'LUA', 0, 5000, int(time) - 100000);
local n, base = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, n do
  local id = string.format("m%011d", i)
  redis.call("HSET", "apikey:key:{" .. id .. "}", "digest", string.rep("0", 64), "name", "many " .. i,
             "scopes", "", "status", "active", "hint", "abcd", "created", base + i, "updated", base + i,
             "expires", 0, "last_used", 0)
  redis.call("ZADD", "apikey:idx:created", base + i, id)
  redis.call("ZADD", "apikey:idx:expires", "inf", id)
  redis.call("ZADD", "apikey:idx:last_used", 0, id)
  redis.call("ZADD", "apikey:idx:name", 0, "many " .. i .. "\0" .. id)
end
LUA
    $redis->cmd('CONFIG', 'RESETSTAT');
    my $t0 = time;
    # (auth=off: the admin key's own check would be a second call)
    $res = $nginx->get('/openadmin/keys?search=many&limit=50');
    $res->{json} = json_of($res->{body});
    my $took = time - $t0;
    is $res->{status}, 200, '5,000 more keys: GET keys';
    is scalar @{ $res->{json}{keys} }, 50, 'a page of 50';
    is $res->{json}{keys}[0]{name}, 'many 5000', 'newest first';
    is $redis->calls('evalsha'), 1, 'one Redis call';
    cmp_ok $redis->calls('hgetall'), '<=', 60, 'reading about one page of records, not 5,000 ('
        . $redis->calls('hgetall') . ')';
    cmp_ok length $res->{body}, '<', 50 * 2048, 'a reply of bounded size';
    cmp_ok $took, '<', 1, "in under a second ($took s)";
}

# --- keys written before the indexes: 503 reindex_needed, then apikeyctl reindex
{
    # a record as version 1 wrote it: none of the key model's fields, no index entry
    my $old = 'v1aaaaaaaaaa';
    $redis->cmd('HSET', "apikey:key:{$old}", 'digest', '0' x 64, 'name', 'written by v1', 'scopes', 'read',
                'status', 'active', 'hint', 'wxyz', 'created', int(time) + 10, 'updated', int(time), 'expires', 0);
    $redis->cmd('DEL', map { "apikey:idx:$_" } qw(created expires last_used name));
    $res = call('GET', '/admin/keys');
    is $res->{status}, 503, 'records but no index: 503';
    is $res->{json}{error}, 'reindex_needed', 'reindex_needed';
    like $res->{json}{message}, qr/apikeyctl reindex/, 'saying what to run';
    my ($status) = $redis->cli('reindex');
    is $status, 0, 'apikeyctl reindex';
    $res = call('GET', '/admin/keys?limit=1');
    is $res->{status}, 200, 'then the list answers again';
    my $v1 = $res->{json}{keys}[0];
    is $v1->{name}, 'written by v1', 'a version 1 record listed, newest first';
    is_deeply [@$v1{qw(owner role plan env)}], [undef, undef, undef, 'live'], '... as a live key with no owner, role or plan';
    is_deeply [$v1->{meta}, $v1->{allow_ip}], [{}, []], '... no metadata, any address';
}

$nginx->stop;
done_testing;
