# apikey_fail_mode cached: while Redis cannot be reached (stopped, paused), a
# key the cache saw active within max_age is still decided from its entry,
# scopes, expiry and rate limits (this host's buckets) included; every other
# key gets 503. Once Redis is back, every check is Redis's again.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    http => "apikey_cache zone=apikeys:1m ttl=60s;\n    apikey_local_limits zone=buckets:1m;",
    location => 'apikey on; apikey_scope read; apikey_redis_timeout 300ms; '
              . 'apikey_fail_mode cached max_age=60s;',
    server => <<'EOF',
        location /admin/ {
            apikey on;
            apikey_scope admin;
            apikey_fail_mode cached;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /limited/ {
            apikey on;
            apikey_limit 1r/m burst=3;
            apikey_redis_timeout 300ms;
            apikey_fail_mode cached;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /owner/ {
            apikey on;
            apikey_limit 1r/m burst=2 per=owner;
            apikey_redis_timeout 300ms;
            apikey_fail_mode cached;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /short/ {
            apikey on;
            apikey_fail_mode cached max_age=2s;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /closed/ {
            apikey on;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location = /metrics {
            apikey_metrics;
        }
EOF
);
ok poll_until(30, sub { $redis->subscribers >= 1 }), 'the worker subscribed to invalidations';

sub st { $nginx->get($_[0], 'X-API-Key' => $_[1]{token})->{status} }

# the result ($apikey_result) of the last request to $path
sub last_result {
    my ($path) = @_;
    my ($line) = reverse grep { $_->[6] eq $path } $nginx->access_log;
    return $line ? $line->[1] : '';
}

sub metric {
    my ($result) = @_;
    my $text = $nginx->get('/metrics')->{body} // '';
    return $text =~ /^apikey_fail_cached_total\{result="\Q$result\E"\} (\d+)$/m ? $1 : -1;
}

my $key = $redis->create_key(name => 'known', scopes => ['read']);
my $weak = $redis->create_key(name => 'no scope');
my $lim = $redis->create_key(name => 'limited');
my $unused = $redis->create_key(name => 'never seen by nginx', scopes => ['read']);
my $revoked = $redis->create_key(name => 'revoked', scopes => ['read']);
my $expiring = $redis->create_key(name => 'expiring', scopes => ['read'], expires_in => '5s');
sub owned {
    my ($s, $o, $e) = $redis->cli('create', '--json', '--name', $_[0], '--owner', 'acct_42');
    die "create: $e" if $s != 0;
    return ApikeyTest::json_of($o);
}
my ($mine, $theirs) = (owned('one of two'), owned('two of two'));
# credits are sold uses: none is given away while Redis cannot count them
my $paid = $redis->create_key(name => 'with credits', scopes => ['read']);
$redis->cmd('HSET', "apikey:key:{$paid->{id}}", 'credits', 100);
# the known key's id with a secret of its own: well-formed, checksum and all
my $forged = { token => ApikeyTest::with_checksum("ak_$key->{id}_" . ('B' x 40)) };

# Redis up: the cache learns the keys; a stale entry is never used meanwhile
is st('/api/a', $key), 200, 'up: the key passes';
is last_result('/api/a'), 'ok', 'up: $apikey_result is "ok"';
is st('/api/w', $weak), 403, 'up: a key without the scope is 403';
is st('/limited/l', $lim), 200, 'up: the limited key passes';
is st('/short/s', $key), 200, 'up: the key passes where max_age is 2 s';
is st('/owner/o', $mine), 200, 'up: one key of the owner passes per=owner';
is st('/owner/o', $theirs), 200, 'up: and the other';
is st('/api/e', $expiring), 200, 'up: the expiring key passes (for now)';
is st('/api/p', $paid), 200, 'up: the key with credits passes (and spends one)';
is st('/api/r', $revoked), 200, 'up: the key to be revoked passes';
my $dropped = $redis->create_key(name => 'revoked, not asked for since', scopes => ['read']);
is st('/api/d', $dropped), 200, 'up: the other key to be revoked passes';
# in this order on the one subscription: once $revoked's message has been
# handled, so has $dropped's
my ($status) = $redis->cli('revoke', $dropped->{id});
is $status, 0, 'apikeyctl revoke (one)';
($status) = $redis->cli('revoke', $revoked->{id});
is $status, 0, 'apikeyctl revoke (the other)';
my $got = 0;
poll_until(10, sub { ($got = st('/api/r', $revoked)) == 401 });
is $got, 401, 'up: the revoked key is refused (the invalidation dropped its entry)';
isnt st('/api/f', $forged), 200, 'up: a forged token is refused';
is metric('admitted'), 0, 'up: nothing answered from last-known-good';

# --- Redis stopped ---------------------------------------------------------
$redis->cmd('SAVE');   # the restart below keeps the keys
$redis->stop;

is st('/closed/c', $key), 503, 'stopped: apikey_fail_mode closed still refuses the known key';
is st('/api/a', $key), 200, 'stopped: the known key passes (last-known-good)';
is last_result('/api/a'), 'cached', 'stopped: $apikey_result is "cached"';
my $res = $nginx->get('/api/a', 'X-API-Key' => $key->{token});
like $res->{body}, qr/x-api-key=\[\]/, 'stopped: the key is stripped as on any admitted request';
is st('/api/u', $unused), 503, 'stopped: a valid key nginx never saw is 503';
is st('/api/p', $paid), 503, 'stopped: a known key with credits is 503 (its uses cannot be counted)';
is st('/api/f', $forged), 503, 'stopped: a forged token is 503';
is st('/api/r', $revoked), 503, 'stopped: the key revoked before the outage is not admitted';
is st('/api/d', $dropped), 503,
    'stopped: nor is the one revoked and not asked for since (the invalidation dropped it)';
is st('/api/w', $weak), 403, 'stopped: scopes are still checked (403)';
is st('/admin/x', $key), 403, 'stopped: a scope the key lacks is still 403';
is st('/api/x', { token => 'garbage' }), 401, 'stopped: a malformed key is still 401';

my @res = map { $nginx->get('/limited/l', 'X-API-Key' => $lim->{token}) } 1 .. 5;
is_deeply [map { $_->{status} } @res], [200, 200, 200, 429, 429],
    'stopped: rate limited by local buckets of the same limits (burst 3, then 429)';
ok defined ApikeyTest::Nginx::header($res[3], 'Retry-After'), 'stopped: the 429 has Retry-After';
is_deeply [map { st('/owner/o', $_) } $mine, $theirs, $mine, $theirs], [200, 200, 429, 429],
    'stopped: per=owner: the two keys share the owner\'s local bucket (burst 2)';

ok poll_until(15, sub { st('/api/e', $expiring) == 401 }),
    'stopped: a key whose expiry passed (by the local clock) is refused';

ok poll_until(10, sub { st('/short/s', $key) == 503 }),
    'stopped: past max_age=2s the known key is 503';
is st('/api/a', $key), 200, 'stopped: ... while max_age=60s still admits it';

cmp_ok metric('admitted'), '>=', 4, 'metric: apikey_fail_cached_total{result="admitted"}';
cmp_ok metric('unknown'), '>=', 3, 'metric: apikey_fail_cached_total{result="unknown"}';
cmp_ok metric('refused'), '>=', 3, 'metric: apikey_fail_cached_total{result="refused"}';

# one warn line a second at most
my %per_second;
for (split /\n/, $nginx->error_log) {
    $per_second{$1}++ if /^(\S+ \S+) \[warn\].*\(apikey_fail_mode cached\)/;
}
ok scalar(keys %per_second) >= 1, 'a warn line says so';
my ($most) = sort { $b <=> $a } values %per_second;
is $most, 1, 'at most one a second';

# --- Redis restarted: Redis decides again -------------------------------------
$redis->restart;
$got = '';
poll_until(20, sub { st('/api/a', $key) == 200 && ($got = last_result('/api/a')) eq 'ok' });
is $got, 'ok', 'restarted: the known key is checked by Redis again';
is st('/api/u', $unused), 200, 'restarted: the key nginx never saw passes';
is st('/api/r', $revoked), 401, 'restarted: the revoked key is 401';
is st('/short/s', $key), 200, 'restarted: max_age no longer matters';

# --- Redis paused (SIGSTOP): answered within apikey_redis_timeout -------------
ok poll_until(20, sub { $redis->subscribers >= 1 }), 'subscribed again';
is st('/limited/p', $key), 200, 'up: the key passes /limited/ (its entry is confirmed)';
is st('/api/p', $key), 200, 'up: and /api/';

kill 'STOP', $redis->pid;
my $t0 = time;
is st('/limited/p', $key), 200, 'paused: the known key passes';
my $took = time - $t0;
cmp_ok $took, '<', 2, sprintf('paused: answered after the 300 ms timeout, not when Redis wakes (%.2f s)', $took);
is last_result('/limited/p'), 'cached', 'paused: $apikey_result is "cached"';
$t0 = time;
is st('/api/u2', { token => ApikeyTest::with_checksum("ak_$key->{id}_" . ('C' x 40)) }), 503, 'paused: an unknown token is 503';
cmp_ok time - $t0, '<', 2, 'paused: ... within the timeout';
is st('/admin/x', $key), 403, 'paused: scopes still checked';
@res = map { st('/limited/p', $key) } 1 .. 4;
is_deeply \@res, [200, 200, 429, 429], 'paused: the local bucket goes on (burst 3 in all, then 429)';

kill 'CONT', $redis->pid;
$got = '';
poll_until(20, sub { st('/api/p', $key) == 200 && ($got = last_result('/api/p')) eq 'ok' });
is $got, 'ok', 'resumed: Redis decides again';

$nginx->stop;

# --- past the cache's ttl -----------------------------------------------------
# ttl=1s: an entry past it is never used while Redis answers (Redis is asked,
# and sees a change no message announced), yet is kept as last-known-good
# until max_age
{
    my $short = ApikeyTest::Nginx->start(
        redis => $redis,
        http => "apikey_cache zone=apikeys:1m ttl=1s;\n    apikey_local_limits zone=buckets:1m;",
        location => 'apikey on; apikey_redis_timeout 300ms; apikey_fail_mode cached max_age=60s;');
    ok poll_until(30, sub { $redis->subscribers >= 1 }), 'ttl=1s: subscribed';
    my $stale = $redis->create_key(name => 'stale');
    my $quiet = $redis->create_key(name => 'disabled without a message');
    my $gets = sub { $short->get($_[0], 'X-API-Key' => $_[1]{token})->{status} };
    is $gets->('/api/t', $stale), 200, 'ttl=1s: the key passes';
    is $gets->('/api/q', $quiet), 200, 'ttl=1s: the other key passes';
    $redis->cmd('HSET', "apikey:key:{$quiet->{id}}", 'status', 'revoked');   # no message sent
    sleep 1.5;   # past the ttl
    is $gets->('/api/q', $quiet), 401, 'ttl=1s, Redis up: past its ttl the entry is not used';

    kill 'STOP', $redis->pid;
    is $gets->('/api/t', $stale), 200, 'ttl=1s, paused: past its ttl the entry is last-known-good';
    # 401 from its entry while that is within its ttl, 503 once past it
    isnt $gets->('/api/q', $quiet), 200, 'ttl=1s, paused: the key Redis said was revoked is not';
    kill 'CONT', $redis->pid;
    $short->stop;
}
$redis->stop;

# --- nginx -t ---------------------------------------------------------------
my ($ok, $out) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379',
    location => 'apikey on; apikey_fail_mode cached;');
ok !$ok, 'nginx -t: cached without apikey_cache is refused';
like $out, qr/"apikey_fail_mode cached" needs "apikey_cache zone=NAME:SIZE"/, '... with a clear message';

($ok, $out) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379',
    http => 'apikey_cache zone=c:1m;',
    location => 'apikey on; apikey_limit 10r/s; apikey_fail_mode cached;');
ok !$ok, 'nginx -t: cached with Redis buckets but no apikey_local_limits is refused';
like $out, qr/needs "apikey_local_limits zone=NAME:SIZE"/, '... with a clear message';

($ok, $out) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379',
    http => "apikey_cache zone=c:1m;\n    apikey_local_limits zone=b:1m;",
    location => 'apikey on; apikey_limit 10r/s; apikey_fail_mode cached max_age=30s;');
ok $ok, 'nginx -t: cached with both zones is accepted' or diag $out;

for my $bad (['cached max_age=0', qr/invalid max_age "max_age=0"/],
             ['cached max_age=soon', qr/invalid max_age "max_age=soon"/],
             ['cached ttl=5s', qr/invalid parameter "ttl=5s"/],
             ['open max_age=5s', qr/invalid parameter "max_age=5s"/],
             ['ajar', qr/invalid value "ajar"/]) {
    ($ok, $out) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379',
        http => 'apikey_cache zone=c:1m;',
        location => "apikey on; apikey_fail_mode $bad->[0];");
    ok !$ok, "nginx -t: apikey_fail_mode $bad->[0] is refused";
    like $out, $bad->[1], '... with a clear message';
}

($ok, $out) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379',
    http => 'apikey_cache zone=c:1m;',
    location => 'apikey on; apikey_fail_mode cached; apikey_fail_mode open;');
ok !$ok, 'nginx -t: a second apikey_fail_mode is refused';
like $out, qr/is duplicate/, '... as a duplicate';

done_testing;
