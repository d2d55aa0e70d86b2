# Per-key usage: requests counted per key, UTC day and result in each worker
# and flushed to <prefix>usage:{<id>}:<YYYYMMDD> at most once a second, never
# a Redis command per request; shown by apikeyctl usage and the admin API;
# apikeyctl limits --reset refills a key's buckets, audited.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX qw(strftime);
use Time::HiRes qw(sleep);
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(redis => $redis,
    location => 'apikey on; apikey_scope read GET; apikey_scope write POST;',
    server => <<'EOF2',
        location /free/ {
            apikey on;
            apikey_limit off;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location = /metrics {
            apikey_metrics;
        }
        location /admin/ {
            allow 127.0.0.1;
            deny all;
            apikey_admin auth=off;
        }
EOF2
);

sub today { strftime('%Y%m%d', gmtime) }
sub usage_of {
    my ($id, $day) = @_;
    my %h = split /\n/, $redis->cmd('HGETALL', "apikey:usage:{$id}:" . ($day // today()));
    return \%h;
}

# several outcomes on known keys, and an unknown key
my $day = today();
my $key = $redis->create_key(name => 'busy', scopes => ['read']);
my @res = $nginx->parallel(20, 'GET', '/api/x', 'X-API-Key' => $key->{token});
is scalar(grep { $_->{status} == 200 } @res), 10, '10 of 20 pass';
is scalar(grep { $_->{status} == 429 } @res), 10, '10 of 20 limited';
is $nginx->request('POST', '/api/x', 'X-API-Key' => $key->{token})->{status}, 403, 'refused for scope'
    for 1 .. 3;

my $revoked = $redis->create_key(name => 'revoked');
$redis->cli('revoke', $revoked->{id});
is $nginx->get('/api/x', 'X-API-Key' => $revoked->{token})->{status}, 401, 'revoked key refused'
    for 1 .. 2;

my $gone = $redis->create_key(name => 'deleted');
is(($redis->cli('delete', $gone->{id}))[0], 0, 'deleted');
is $nginx->get('/api/x', 'X-API-Key' => $gone->{token})->{status}, 401, 'unknown key refused';
is $nginx->get('/api/x')->{status}, 401, 'no key refused';

ok poll_until(5, sub { (usage_of($key->{id})->{ok} // 0) == 10 && (usage_of($revoked->{id})->{invalid} // 0) == 2 }),
    'counts flushed within seconds';
sleep 1.2;   # anything else would have been flushed by now
is_deeply usage_of($key->{id}), { ok => 10, limited => 10, forbidden => 3 }, 'exact counts by result';
is_deeply usage_of($revoked->{id}), { invalid => 2 }, 'a revoked key: invalid';
is $redis->cmd('KEYS', "apikey:usage:{$gone->{id}}:*"), '', 'an unknown key is not counted';

# kept for 90 days after the day ends
my $ttl = $redis->cmd('EXPIRETIME', "apikey:usage:{$key->{id}}:$day");
my ($y, $m, $d) = $day =~ /^(\d{4})(\d\d)(\d\d)$/;
my $start = POSIX::mktime(0, 0, 0, $d, $m - 1, $y - 1900);
$start -= (POSIX::mktime(gmtime 0)) if defined $start;   # mktime is local time: back to UTC
is $ttl, $start + 91 * 86400, 'EXPIREAT: 90 days after the day ends';

# no Redis command per request: 200 requests, a few flushes
$redis->cmd('CONFIG', 'RESETSTAT');
my $many = $redis->create_key(name => 'many');
my $t0 = time;
$nginx->get('/free/x', 'X-API-Key' => $many->{token}) for 1 .. 200;
my $took = time - $t0;
ok poll_until(5, sub { (usage_of($many->{id})->{ok} // 0) == 200 }), '200 requests counted';
my $hincrby = $redis->calls('hincrby');
cmp_ok $hincrby, '<=', $took + 3, "HINCRBY at most once a second per worker ($hincrby in ${took}s)";
cmp_ok $redis->calls('expireat'), '==', $hincrby, 'one EXPIREAT per key-day flushed';
my $metrics = $nginx->get('/metrics')->{body};
my ($flushes) = $metrics =~ /^apikey_usage_flushes_total (\d+)$/m;
cmp_ok $flushes // 0, '>=', $hincrby, 'apikey_usage_flushes_total counts the flushes';
like $metrics, qr/^apikey_usage_dropped_total 0$/m, 'apikey_usage_dropped_total: nothing dropped';
like $metrics, qr/^apikey_usage_errors_total 0$/m, 'apikey_usage_errors_total: no error';

# apikeyctl usage: JSON and table, --days, --owner
my $yesterday = strftime('%Y%m%d', gmtime(time - 86400));
$redis->cmd('HSET', "apikey:usage:{$key->{id}}:$yesterday", 'ok', 5, 'invalid', 1);
my ($st, $out, $err) = $redis->cli('usage', $key->{id}, '--json');
is $st, 0, 'usage --json';
my $u = json_of($out);
is $u->{id}, $key->{id}, 'the key id';
is scalar(@{ $u->{days} }), 30, '30 days by default';
(my $date = $day) =~ s/^(\d{4})(\d\d)(\d\d)$/$1-$2-$3/;
is_deeply $u->{days}[-1], { date => $date, ok => 10, forbidden => 3, limited => 10, invalid => 0, quota_exceeded => 0, credits_exhausted => 0, total => 23 },
    'today last, exact counts';
is $u->{days}[-2]{ok}, 5, 'yesterday';
is_deeply $u->{total}, { ok => 15, forbidden => 3, limited => 10, invalid => 1, quota_exceeded => 0, credits_exhausted => 0, total => 29 }, 'totals';
is_deeply [map { $_->{total} } @{ json_of(($redis->cli('usage', $key->{id}, '--days', 1, '--json'))[1])->{days} }],
    [23], '--days 1: today only';
is scalar(@{ json_of(($redis->cli('usage', $key->{id}, '--days', 90, '--json'))[1])->{days} }), 90, '--days 90';
is(($redis->cli('usage', $key->{id}, '--days', 91))[0], 2, '--days 91 refused');
is(($redis->cli('usage', 'zzzzzzzzzzzz'))[0], 1, 'unknown key: exit 1');
($st, $out) = $redis->cli('usage', $key->{id}, '--days', 2);
like $out, qr/^DATE\s+OK\s+FORBIDDEN\s+LIMITED\s+INVALID\s+QUOTA EXCEEDED\s+CREDITS EXHAUSTED\s+TOTAL$/m, 'table header';
like $out, qr/^\Q$date\E\s+10\s+3\s+10\s+0\s+0\s+0\s+23$/m, 'table: today';
like $out, qr/^total\s+15\s+3\s+10\s+1\s+0\s+0\s+29$/m, 'table: total';

# the admin API: the same report
my $api = $nginx->get("/admin/keys/$key->{id}/usage?days=2");
is $api->{status}, 200, 'GET keys/{id}/usage';
is_deeply json_of($api->{body}), json_of(($redis->cli('usage', $key->{id}, '--days', 2, '--json'))[1]),
    '... the report apikeyctl usage --json prints';
is scalar(@{ json_of($nginx->get("/admin/keys/$key->{id}/usage")->{body})->{days} }), 30,
    '... 30 days by default';
is $nginx->get("/admin/keys/zzzzzzzzzzzz/usage")->{status}, 404, '... an unknown key: 404';
is $nginx->get("/admin/keys/$key->{id}/usage?days=$_")->{status}, 400, "... days=$_: 400"
    for 0, 91, 'x';
is $nginx->request('POST', "/admin/keys/$key->{id}/usage")->{status}, 405, '... POST: 405';

my @owned = map { json_of(($redis->cli('create', '--json', '--name', "o$_", '--owner', 'acme'))[1]) } 1 .. 2;
$redis->cmd('HSET', "apikey:usage:{$owned[0]{id}}:$day", 'ok', 3);
$redis->cmd('HSET', "apikey:usage:{$owned[1]{id}}:$day", 'ok', 4, 'limited', 1);
$redis->cmd('HSET', "apikey:usage:{$owned[1]{id}}:$yesterday", 'forbidden', 2);
($st, $out) = $redis->cli('usage', '--owner', 'acme', '--days', 2, '--json');
$u = json_of($out);
is_deeply [sort @{ $u->{keys} }], [sort map { $_->{id} } @owned], '--owner: the owner\'s keys';
is_deeply $u->{total}, { ok => 7, forbidden => 2, limited => 1, invalid => 0, quota_exceeded => 0, credits_exhausted => 0, total => 10 }, '--owner: summed';
is $u->{days}[-1]{total}, 8, '--owner: summed per day';

# apikeyctl limits --reset: a limited key passes again, audited
my $tight = $redis->create_key(name => 'tight', scopes => ['read'], limits => ['6r/m:2']);
is $nginx->get('/api/x', 'X-API-Key' => $tight->{token})->{status}, 200, 'tight: 1' for 1 .. 2;
is $nginx->get('/api/x', 'X-API-Key' => $tight->{token})->{status}, 429, 'tight: limited';
($st, $out) = $redis->cli('limits', $tight->{id}, '--reset', '--reason', 'ticket 42');
is $st, 0, 'limits --reset';
like $out, qr/Reset the rate limits of key $tight->{id}/, 'says so';
is $nginx->get('/api/x', 'X-API-Key' => $tight->{token})->{status}, 200, 'tight: passes again after the reset';
my $events = json_of(($redis->cli('audit', $tight->{id}, '--json'))[1]);
is $events->[0]{action}, 'reset_limits', 'audited';
is $events->[0]{reason}, 'ticket 42', 'with the reason';
is(($redis->cli('limits', $tight->{id}))[0], 2, 'limits without --reset: usage error');
# the admin API's POST keys/{id}/limits/reset: the same, audited as via admin-api
is $nginx->get('/api/x', 'X-API-Key' => $tight->{token})->{status}, 200, 'tight: 2' ;
is $nginx->get('/api/x', 'X-API-Key' => $tight->{token})->{status}, 429, 'tight: limited again';
my $reset = $nginx->request('POST', "/admin/keys/$tight->{id}/limits/reset", 'Content-Type' => 'application/json',
                            ':body' => '{"reason":"ticket 43"}');
is $reset->{status}, 200, 'POST keys/{id}/limits/reset';
is json_of($reset->{body})->{id}, $tight->{id}, '... answers the key';
is $nginx->get('/api/x', 'X-API-Key' => $tight->{token})->{status}, 200, 'tight: passes again after the API reset';
$events = json_of(($redis->cli('audit', $tight->{id}, '--json'))[1]);
is_deeply [@{ $events->[0] }{qw(action reason via)}], ['reset_limits', 'ticket 43', 'admin-api'], '... audited';
is $nginx->request('POST', "/admin/keys/zzzzzzzzzzzz/limits/reset", 'Content-Type' => 'application/json',
                   ':body' => '{}')->{status}, 404, '... an unknown key: 404';
is $nginx->get("/admin/keys/$tight->{id}/limits/reset")->{status}, 405, '... GET: 405';
is(($redis->cli('limits', 'zzzzzzzzzzzz', '--reset'))[0], 1, 'limits --reset: unknown key');

$nginx->stop;

# a graceful stop (nginx -s quit, a reload's old workers) writes the last counts
{
    my $quit = ApikeyTest::Nginx->start(redis => $redis, location => 'apikey on; apikey_limit off;');
    my $k = $redis->create_key(name => 'last second');
    is $quit->get('/api/x', 'X-API-Key' => $k->{token})->{status}, 200, 'served' for 1 .. 3;
    $quit->stop;   # QUIT at once: the worker waits for its flush timer
    is_deeply usage_of($k->{id}), { ok => 3 }, 'counted before the worker exited';
}

# a flush of many keys: sent in slices, one per turn of the event loop (the
# checks of the turns between wait behind one slice, not the whole flush);
# every key-day arrives. 700 keys used within a second or two: three slices
# or more.
{
    require Digest::SHA;
    my $many = ApikeyTest::Nginx->start(redis => $redis, location => 'apikey on; apikey_limit off;');
    my @b36 = ('0' .. '9', 'a' .. 'z');
    my (@ids, @tokens);
    for my $i (1 .. 700) {
        my $id = 'slice' . join '', map { $b36[int rand 36] } 1 .. 7;
        my $token = ApikeyTest::with_checksum("ak_${id}_" . join '', map { $b36[int rand 36] } 1 .. 40);
        push @ids, $id;
        push @tokens, $token;
    }
    # the records as the data model has them, written in one call
    $redis->cmd('EVAL', "for i = 1, #KEYS do redis.call('HSET', KEYS[i], 'v', 1, "
                . "'digest', ARGV[i], 'status', 'active', 'name', 'many', 'expires', 0, "
                . "'created', ARGV[#KEYS + 1]) end return #KEYS",
                scalar @ids, (map { "apikey:key:{$_}" } @ids),
                (map { Digest::SHA::sha256_hex($_) } @tokens), time);
    my @statuses = map { $many->get('/api/x', 'X-API-Key' => $_)->{status} } @tokens;
    is scalar(grep { $_ == 200 } @statuses), 700, '700 keys, each used once';
    my $counted = sub {
        $redis->cmd('EVAL', "local n = 0 for i = 1, #KEYS do "
                    . "if redis.call('HGET', KEYS[i], 'ok') == '1' then n = n + 1 end end return n",
                    scalar @ids, map { "apikey:usage:{$_}:" . today() } @ids);
    };
    ApikeyTest::poll_until(10, sub { $counted->() == 700 });
    is $counted->(), 700, 'every key-day of a flush sliced over several turns arrives, counted once';
    $many->stop;
}

# apikey_usage off: nothing counted
{
    my $off = ApikeyTest::Nginx->start(redis => $redis, http => 'apikey_usage off;',
                                       location => 'apikey on; apikey_limit off;');
    my $k = $redis->create_key(name => 'uncounted');
    is $off->get('/api/x', 'X-API-Key' => $k->{token})->{status}, 200, 'served';
    sleep 2;
    is $redis->cmd('KEYS', "apikey:usage:{$k->{id}}:*"), '', 'apikey_usage off: not counted';
    $off->stop;
}

done_testing;
