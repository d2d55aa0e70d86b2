# Issue 14, the key model in the check: roles, plans, owners (per=owner
# buckets), live and test keys, metadata, disabled keys and IP allowlists, as
# the module reads them from a record. The records are written as the README's
# "Redis data model" documents a v2 record (apikeyctl creates the key, the
# model's fields are set with HSET, and a role change publishes on
# <prefix>invalidate as the role writes do).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;

sub record { "apikey:key:{$_[0]}" }

sub key_with {
    my ($scopes, %fields) = @_;
    my $k = $redis->create_key(name => 'model', scopes => $scopes);
    $redis->cmd('HSET', record($k->{id}), %fields) if %fields;
    return $k;
}

my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    http => 'apikey_cache zone=model:1m ttl=60s;',
    location => 'apikey on; apikey_scope read; add_header X-Result $apikey_result always;',
    server => <<'EOF');
        location /vars/ {
            apikey on;
            apikey_limit off;
            proxy_set_header X-Key-Id $apikey_meta_tenant;
            proxy_set_header X-Key-Name "$apikey_owner|$apikey_role|$apikey_plan|$apikey_env|$apikey_meta_region|$apikey_meta_nope";
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /live/ {
            apikey on;
            apikey_env live;
            apikey_limit off;
            add_header X-Result $apikey_result always;
            add_header X-Env $apikey_env always;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /test/ {
            apikey on;
            apikey_env test;
            apikey_limit off;
            add_header X-Result $apikey_result always;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /any/ {
            apikey on;
            apikey_limit off;
            add_header X-Result $apikey_result always;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /owner/ {
            apikey on;
            apikey_limit 3r/m burst=3 per=owner;
            add_header X-Result $apikey_result always;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /plan/ {
            apikey on;
            apikey_limit 100r/m burst=20;
            add_header X-Result $apikey_result always;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /me {
            apikey_introspect;
            apikey_limit off;
        }
        location = /metrics {
            apikey_metrics;
        }
        location /hop/ {
            apikey on;
            apikey_limit off;
            root /;
            try_files /nonexistent-apikey-test @testenv;
        }
        location @testenv {
            apikey on;
            apikey_env test;
            apikey_limit off;
            add_header X-Result $apikey_result always;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /behind/ {
            apikey on;
            apikey_limit off;
            set_real_ip_from 127.0.0.1;
            real_ip_header X-Forwarded-For;
            add_header X-Result $apikey_result always;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
EOF
sleep 0.5;   # the worker subscribes: until then there is no cache

sub req {
    my ($path, $token, @h) = @_;
    my $res = $nginx->get($path, 'X-API-Key' => $token, @h);
    return ($res->{status}, ApikeyTest::Nginx::header($res, 'X-Result') // '', $res);
}

# --- roles: scopes ∪ role_scopes, and a role change reaches the cache ---
{
    my $k = key_with(['other'], role => 'reader', role_scopes => 'read');
    is_deeply [ (req('/api/x', $k->{token}))[0, 1] ], [200, 'ok'], 'a scope of its role is held';
    is_deeply [ (req('/api/x', $k->{token}))[0, 1] ], [200, 'ok'], 'and on a cache hit';

    # the role loses the scope: the role write rewrites the copy and publishes
    $redis->cmd('HSET', record($k->{id}), 'role_scopes', 'write');
    $redis->cmd('PUBLISH', 'apikey:invalidate', $k->{id});
    my ($t0, $st) = (time, 0);
    while (time - $t0 < 1.5) {
        ($st) = req('/api/x', $k->{token});
        last if $st == 403;
        sleep 0.05;
    }
    is $st, 403, 'a role change is seen through the cache';
    cmp_ok time - $t0, '<', 1, 'within a second';

    my $none = key_with(['other']);
    is_deeply [ (req('/api/x', $none->{token}))[0, 1] ], [403, 'forbidden'],
        'without the role, the key lacks the scope';
}

# --- plans: the key's own limits, else its plan's, else the default set ---
{
    my $plan = key_with(['read'], plan => 'tiny', plan_limits => '2r/h:2');
    my @got = map { (req('/plan/x', $plan->{token}))[0] } 1 .. 3;
    is_deeply \@got, [200, 200, 429], "the plan's limits replace the default set";

    my $own = $redis->create_key(name => 'own', scopes => ['read'], limits => ['3r/h:3']);
    $redis->cmd('HSET', record($own->{id}), 'plan', 'tiny', 'plan_limits', '1r/h:1');
    @got = map { (req('/plan/x', $own->{token}))[0] } 1 .. 4;
    is_deeply \@got, [200, 200, 200, 429], "the key's own limits before its plan's";

    my $default = key_with(['read']);
    @got = map { (req('/plan/x', $default->{token}))[0] } 1 .. 5;
    is_deeply \@got, [200, 200, 200, 200, 200], 'neither: the default set (burst 20)';
}

# --- owners: per=owner buckets shared by the owner's keys ---
{
    my $a = key_with(['read'], owner => 'acct_42');
    my $b = key_with(['read'], owner => 'acct_42');
    my $c = key_with(['read'], owner => 'acct_7');
    my $solo = key_with(['read']);
    my $solo2 = key_with(['read']);

    my @got = map { (req('/owner/x', $_->{token}))[0] } $a, $b, $a, $b;
    is_deeply \@got, [200, 200, 200, 429], "two keys of one owner draw from one bucket of 3";
    is $redis->cmd('EXISTS', 'apikey:owner_bucket:acct_42:default'), 1,
        "the owner's bucket, by the documented name";
    is $redis->cmd('EXISTS', "apikey:bucket:{$a->{id}}:default"), 0, "not the key's own";
    is_deeply [ (req('/owner/x', $c->{token}))[0, 1] ], [200, 'ok'], 'another owner: its own bucket';

    @got = map { (req('/owner/x', $_->{token}))[0] } $solo, $solo, $solo, $solo2;
    is_deeply \@got, [200, 200, 200, 200], 'keys without an owner: a bucket each';
    is $redis->cmd('EXISTS', "apikey:bucket:{$solo->{id}}:default"), 1,
        "a key without an owner uses its own bucket";

    # on a cache hit ("limit" mode) the owner's bucket is the same one
    my @hits = map { (req('/owner/x', $_->{token}))[0] } $c, $c, $c;
    is_deeply \@hits, [200, 200, 429], 'the cache path draws from the same owner bucket';
}

# --- environments: live, test, any; tokens of both formats ---
{
    my $live = $redis->create_key(name => 'live key', scopes => ['read']);
    like $live->{token}, qr/^ak_live_/, 'a new key is live, and says so';
    my $test = key_with(['read'], env => 'test');

    my ($st, $result, $res) = req('/live/x', $live->{token});
    is_deeply [$st, $result], [200, 'ok'], 'live key, live location';
    is ApikeyTest::Nginx::header($res, 'X-Env'), 'live', '$apikey_env';
    is_deeply [ (req('/test/x', $live->{token}))[0, 1] ], [403, 'wrong_environment'],
        'live key, test location';
    is_deeply [ (req('/test/x', $test->{token}))[0, 1] ], [200, 'ok'], 'test key, test location';
    is_deeply [ (req('/live/x', $test->{token}))[0, 1] ], [403, 'wrong_environment'],
        'test key, live location';
    is_deeply [ (req('/live/x', $test->{token}))[0, 1] ], [403, 'wrong_environment'],
        'and again from the cache';
    is_deeply [ (req('/any/x', $_->{token}))[0, 1] ], [200, 'ok'], 'apikey_env any (default)'
        for $live, $test;
    # after an internal redirect the key is not checked again, but the new
    # location's environment is
    is_deeply [ (req('/hop/x', $live->{token}))[0, 1] ], [403, 'wrong_environment'],
        'an internal redirect into a test location: a live key is refused';
    is_deeply [ (req('/hop/x', $test->{token}))[0, 1] ], [200, 'ok'], 'a test key passes';
    my $body = $nginx->get('/live/x', 'X-API-Key' => $test->{token})->{body};
    like $body, qr/"error":"wrong_environment"/, 'the error code';

    # migration: a record of before issue 14 (v1: no env, no model field) and
    # a token of the old format ak_<id>_<secret><check> keep working, as live
    my $id = 'migrated0001';
    my $old = with_checksum("ak_${id}_" . ('M' x 40));
    my $digest = do { require Digest::SHA; Digest::SHA::sha256_hex($old) };
    $redis->cmd('HSET', record($id), 'v', 1, 'digest', $digest, 'status', 'active',
                'name', 'from v1', 'scopes', 'read', 'hint', substr($old, -4), 'limits', '',
                'created', time - 86400, 'updated', time - 86400, 'expires', 0, 'revoked', 0,
                'prev_digest', '', 'prev_hint', '', 'prev_until', 0, 'imported', 0);
    ($st, $result, $res) = req('/live/x', $old);
    is_deeply [$st, $result], [200, 'ok'], 'a v1 record and an old-format token: live';
    is ApikeyTest::Nginx::header($res, 'X-Env'), 'live', 'shown as env live';
    is_deeply [ (req('/test/x', $old))[0, 1] ], [403, 'wrong_environment'],
        'and refused where test keys are required';
}

# --- disabled: 401 key_disabled, no token taken, nothing written ---
{
    my $k = key_with(['read'], status => 'disabled');
    $redis->cmd('HSET', record($k->{id}), 'last_used', 1000);
    my ($st, $result, $res) = req('/api/x', $k->{token});
    is_deeply [$st, $result], [401, 'disabled'], 'a disabled key';
    like $res->{body}, qr/"error":"key_disabled"/, 'error key_disabled';
    is $redis->cmd('EXISTS', "apikey:bucket:{$k->{id}}:default"), 0, 'no token taken';
    is $redis->cmd('HGET', record($k->{id}), 'last_used'), 1000, 'no last use written';

    $redis->cmd('HSET', record($k->{id}), 'status', 'active');
    $redis->cmd('PUBLISH', 'apikey:invalidate', $k->{id});
    sleep 0.2;
    is_deeply [ (req('/api/x', $k->{token}))[0, 1] ], [200, 'ok'], 'enabled again: it works';

    my $metrics = $redis->cmd('INFO');   # (sanity: Redis is up)
    ok length $metrics, 'redis answers';
}

# --- IP allowlists: IPv4, IPv6, the cache path, real_ip ---
{
    my $in = key_with(['read'], allow_ip => '127.0.0.0/8');
    my $out = key_with(['read'], allow_ip => '203.0.113.0/24 2001:db8::/32');
    my $v6 = key_with(['read'], allow_ip => '2001:db8::/32');
    $redis->cmd('HSET', record($out->{id}), 'last_used', 1000);

    is_deeply [ (req('/api/x', $in->{token}))[0, 1] ], [200, 'ok'], 'inside its allowlist';
    for my $path ('miss', 'hit') {
        my ($st, $result, $res) = req('/api/x', $out->{token});
        is_deeply [$st, $result], [403, 'ip_not_allowed'], "outside its allowlist (cache $path)";
        like $res->{body}, qr/"error":"ip_not_allowed"/, "error ip_not_allowed ($path)";
    }
    is $redis->cmd('EXISTS', "apikey:bucket:{$out->{id}}:default"), 0,
        'a refused address takes no token';
    is $redis->cmd('HGET', record($out->{id}), 'last_used'), 1000, 'and writes nothing';

    # behind a proxy: $remote_addr is the real client (real_ip)
    my @h = ('X-Forwarded-For' => '203.0.113.77');
    is_deeply [ (req('/behind/x', $out->{token}, @h))[0, 1] ], [200, 'ok'],
        'real_ip: the forwarded IPv4 address is in the list';
    is_deeply [ (req('/behind/x', $out->{token}, @h))[0, 1] ], [200, 'ok'], 'and on a hit';
    is_deeply [ (req('/behind/x', $out->{token}, 'X-Forwarded-For' => '198.51.100.1'))[0, 1] ],
        [403, 'ip_not_allowed'], 'real_ip: another forwarded address is not';
    is_deeply [ (req('/behind/x', $in->{token}, @h))[0, 1] ], [403, 'ip_not_allowed'],
        'the proxy address no longer counts';
    is_deeply [ (req('/behind/x', $v6->{token}, 'X-Forwarded-For' => '2001:db8::5'))[0, 1] ],
        [200, 'ok'], 'real_ip: an IPv6 client in an IPv6 network';
    is_deeply [ (req('/behind/x', $v6->{token}, 'X-Forwarded-For' => '2001:db9::5'))[0, 1] ],
        [403, 'ip_not_allowed'], 'real_ip: an IPv6 client outside it';
    is_deeply [ (req('/behind/x', $v6->{token}, 'X-Forwarded-For' => '2001:db9::5'))[0, 1] ],
        [403, 'ip_not_allowed'], 'and on a hit';
}

# --- variables and /me ---
{
    my $k = key_with(['read'], owner => 'acct_42', role => 'reader', role_scopes => 'read',
                     plan => 'gold', plan_limits => '600r/m:50', env => 'test',
                     meta => '{"tenant":"t-42","region":"eu\u00e9"}',
                     allow_ip => '127.0.0.0/8 2001:db8::/32');
    for my $path ('miss', 'hit') {
        my $res = $nginx->get('/vars/x', 'X-API-Key' => $k->{token});
        is $res->{status}, 200, "variables ($path)";
        like $res->{body}, qr/x-key-id=\[t-42\]/, "\$apikey_meta_tenant reaches the upstream ($path)";
        like $res->{body}, qr/x-key-name=\[acct_42\|reader\|gold\|test\|eu\x{c3}\x{a9}\|\]/,
            "owner, role, plan, env, meta (decoded), an absent meta name empty ($path)";
    }

    my $res = $nginx->get('/me', 'X-API-Key' => $k->{token});
    is $res->{status}, 200, '/me';
    my $me = json_of($res->{body});
    is $me->{owner}, 'acct_42', '/me: owner';
    is $me->{role}, 'reader', '/me: role';
    is $me->{plan}, 'gold', '/me: plan';
    is $me->{env}, 'test', '/me: env';
    is_deeply $me->{meta}, { tenant => 't-42', region => "eu\x{e9}" }, '/me: meta';
    is_deeply $me->{allow_ip}, ['127.0.0.0/8', '2001:db8::/32'], '/me: allow_ip';
    is $me->{status}, 'active', '/me: status';
    unlike $res->{body}, qr/\Q$k->{token}\E/, 'no token in /me';

    my $plain = key_with(['read']);
    $me = json_of($nginx->get('/me', 'X-API-Key' => $plain->{token})->{body});
    is_deeply [ @$me{qw(owner role plan env)} ], [undef, undef, undef, 'live'],
        '/me of a key without the model: nulls and live';
    is_deeply [ $me->{meta}, $me->{allow_ip} ], [ {}, [] ], '/me: no meta, no allowlist';
}

# the new results have their own counters
{
    my $body = $nginx->get('/metrics')->{body};
    for my $result (qw(disabled wrong_environment ip_not_allowed)) {
        like $body, qr/^apikey_requests_total\{result="$result"\} [1-9]\d*$/m,
            "metrics count $result";
    }
}

$nginx->check_logs;
$nginx->stop;

# --- configuration: per=owner, apikey_env ---
{
    sub conf { ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379', @_) }
    my ($ok, $err) = conf(location => 'apikey on; apikey_limit 1r/s per=team;');
    ok !$ok, 'per= takes key or owner';
    like $err, qr/invalid per "per=team"/, 'and says so';
    ($ok, $err) = conf(location => 'apikey on; apikey_limit 1r/s per=owner; apikey_limit 10r/m;');
    ok !$ok, 'the lines of one bucket set agree on per=';
    like $err, qr/must all say the same "per="/, 'and says so';
    ($ok, $err) = conf(location => 'apikey on; apikey_env staging;');
    ok !$ok, 'apikey_env takes live, test or any';
    ($ok, $err) = conf(location => 'apikey on; apikey_limit 1r/s per=owner;');
    ok $ok, 'per=owner on a single Redis' or diag $err;
    ($ok, $err) = ApikeyTest::Nginx->test_conf(
        redis_address => 'cluster=127.0.0.1:7000,127.0.0.1:7001',
        location => 'apikey on; apikey_limit 1r/s per=owner;');
    ok !$ok, 'per=owner on a Cluster is refused at nginx -t';
    like $err, qr/per=owner\S* cannot be used with a Redis Cluster/, 'with a clear message';
    ($ok, $err) = conf(http => 'apikey_local_limits zone=l:1m;',
                       location => 'apikey on; apikey_limit 1r/s per=owner store=local;');
    ok !$ok, 'per=owner needs store=redis';
}

done_testing;
