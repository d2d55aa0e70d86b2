# Calendar quotas and credits (issue 15), against a real Redis and nginx:
# apikey_quota N/day|week|month [per=key|owner] [bucket=NAME], a key's own
# quota and its plan's, apikey_cost, credits with refill, counted in the same
# script call as the buckets; only a request that passes every check counts
# or spends; 429 quota_exceeded / credits_exhausted with Retry-After and the
# draft RateLimit fields; $apikey_credits_remaining; "who am I" shows both
# without using them; dry run lets both refusals through.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX qw(strftime floor);
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $shown = 'add_header X-Result $apikey_result always; '
          . 'add_header X-Credits $apikey_credits_remaining always;';
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    http => 'apikey_cache zone=apikeys:1m ttl=60s;',
    location => "apikey on; apikey_limit off; apikey_quota 3/day; $shown",
    server => <<"EOF");
        location /bare/ {
            apikey on; apikey_limit off; $shown
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
        location /both/ {
            apikey on; apikey_limit 60r/m burst=1; apikey_quota 100/day; $shown
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
        location /export/ {
            apikey on; apikey_limit off; apikey_quota 100/day; apikey_quota 2/month bucket=export; $shown
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
        location /team/ {
            apikey on; apikey_limit off; apikey_quota 3/week per=owner; $shown
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
        location /scoped/ {
            apikey on; apikey_limit off; apikey_scope write; $shown
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
        location /costly/ {
            apikey on; apikey_limit off; apikey_cost 2; $shown
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
        location /free/ {
            apikey on; apikey_limit off; apikey_cost 0; $shown
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
        location /dry/ {
            apikey on; apikey_limit off; apikey_quota 1/day; apikey_dry_run on; $shown
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
        location = /me { apikey_introspect; apikey_quota 3/day; }
        location = /metrics { apikey_metrics; }
EOF

sub key { $redis->create_key(name => shift, scopes => ['read']) }
sub rec { "apikey:key:{$_[0]{id}}" }
sub get {
    my ($path, $k) = @_;
    return $nginx->get($path, 'X-API-Key' => $k->{token});
}
sub seen {
    my ($res) = @_;
    return join ' ', $res->{status}, ApikeyTest::Nginx::header($res, 'X-Result') // '-';
}
sub h { ApikeyTest::Nginx::header($_[0], $_[1]) }
sub body { ApikeyTest::json_of($_[0]{body}) }

# the UTC periods, as Redis's clock (this host's, on loopback) sees them
my $now = time;
my $day_start = floor($now / 86400) * 86400;
my $today = strftime('%Y%m%d', gmtime $now);
# seconds to the next UTC midnight, as of the moment asked (a loaded machine
# may take seconds between the start and a check)
sub to_midnight { $day_start + 86400 - time }
my $to_midnight = to_midnight();
my $dow = (gmtime $now)[6];   # 0 = Sunday
my $week_first = strftime('%Y%m%d', gmtime($day_start - (($dow + 6) % 7) * 86400));
my $month_first = strftime('%Y%m01', gmtime $now);
my @t = gmtime $now;
my $month_days = (31, ((($t[5] + 1900) % 4 == 0 && (($t[5] + 1900) % 100 != 0 || ($t[5] + 1900) % 400 == 0)) ? 29 : 28),
                  31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[$t[4]];
my $near_midnight = $to_midnight < 5;
diag 'close to UTC midnight: period checks may straddle it' if $near_midnight;

# --- a day quota from nginx.conf ---------------------------------------------
my $a = key('quota a');
is seen(get('/api/x', $a)), '200 ok', "request $_ of 3 passes" for 1 .. 3;
my $res = get('/api/x', $a);
is seen($res), '429 quota_exceeded', 'the 4th of a 3/day quota: 429 quota_exceeded';
is body($res)->{error}, 'quota_exceeded', '... JSON error quota_exceeded';
my $retry = h($res, 'Retry-After');
ok defined $retry && abs($retry - to_midnight()) <= 3,
   "... Retry-After is the seconds until UTC midnight ($retry)";
is body($res)->{retry_after}, $retry, '... and the body says the same';
like h($res, 'RateLimit-Policy'), qr/^"default\/3\/day";q=3;w=86400$/,
     '... RateLimit-Policy lists the quota with w the period length';
like h($res, 'RateLimit'), qr/^"default\/3\/day";r=0;t=\d+$/, '... RateLimit reports it used up';
is $redis->cmd('HGET', "apikey:quota:{$a->{id}}", 'default/day'), "$today:3",
   'the count is "<first day>:<count>" and the refusal did not count';
my $ttl = $redis->cmd('TTL', "apikey:quota:{$a->{id}}");
ok $ttl > 31 * 86400 && $ttl <= 32 * 86400, "the counts' hash expires after 32 days ($ttl)";
is seen(get('/bare/x', $a)), '200 ok', 'a location without apikey_quota does not count it';

# an earlier period's value counts as 0: a new period starts afresh
my $b = key('quota b');
$redis->cmd('HSET', "apikey:quota:{$b->{id}}", 'default/day', '20200101:999');
$res = get('/api/x', $b);
is seen($res), '200 ok', "a count of another day is no count today";
like h($res, 'RateLimit'), qr/^"default\/3\/day";r=2;t=\d+$/, '... and 2 are left of 3';
is $redis->cmd('HGET', "apikey:quota:{$b->{id}}", 'default/day'), "$today:1", '... counted from 1';

# --- only a request that passes every check counts ---------------------------
my $c = key('limited');
is seen(get('/both/x', $c)), '200 ok', 'the first request passes (burst 1)';
is seen(get('/both/x', $c)), '429 limited', 'the second is refused by the bucket';
is $redis->cmd('HGET', "apikey:quota:{$c->{id}}", 'default/day'), "$today:1",
   '... and did not count against the quota';
is seen(get('/scoped/x', $c)), '403 forbidden', 'a 403 (scope) ...';

# --- the key's own quota, its plan's, and fixed sets -------------------------
my $own = key('own quota');
$redis->cmd('HSET', rec($own), 'quota', '2/day');
is seen(get('/api/x', $own)), '200 ok', "own quota: request $_ passes" for 1 .. 2;
$res = get('/api/x', $own);
is seen($res), '429 quota_exceeded', "the key's own 2/day replaces nginx.conf's 3/day";
like h($res, 'RateLimit-Policy'), qr/"default\/2\/day";q=2;w=86400/, '... and is the policy shown';
my $own_bare = key('own quota, no lines');
$redis->cmd('HSET', rec($own_bare), 'quota', '1/day');
is seen(get('/bare/x', $own_bare)), '200 ok', 'a key with its own quota where no apikey_quota is set';
is seen(get('/bare/x', $own_bare)), '429 quota_exceeded', '... is held to it all the same';

my $planned = key('plan quota');
$redis->cmd('HSET', rec($planned), 'plan', 'gold', 'plan_quota', '1/day');
is seen(get('/api/x', $planned)), '200 ok', "plan quota: first passes";
is seen(get('/api/x', $planned)), '429 quota_exceeded', "a plan's quota applies without an own one";
$redis->cmd('HSET', rec($planned), 'quota', '5/day');
$redis->cmd('PUBLISH', 'apikey:invalidate', $planned->{id});
ok poll_until(5, sub { seen(get('/api/x', $planned)) eq '200 ok' }),
   "the key's own quota wins over its plan's";

my $ex = key('export');
is seen(get('/export/x', $ex)), '200 ok', "export $_ of 2 this month" for 1 .. 2;
$res = get('/export/x', $ex);
is seen($res), '429 quota_exceeded', 'bucket=export: its own month quota besides the default day one';
like h($res, 'RateLimit-Policy'),
     qr/^"default\/100\/day";q=100;w=86400, "export\/2\/month";q=2;w=@{[ $month_days * 86400 ]}$/,
     '... both listed, w of a month is its length';
is $redis->cmd('HGET', "apikey:quota:{$ex->{id}}", 'export/month'), "$month_first:2",
   'the month count starts on the first of the month';
is $redis->cmd('HGET', "apikey:quota:{$ex->{id}}", 'default/day'), "$today:2",
   '... and the refused request counted in neither';
my $ex_own = key('export with own quota');
$redis->cmd('HSET', rec($ex_own), 'quota', '50/day');
get('/export/x', $ex_own) for 1 .. 2;
is seen(get('/export/x', $ex_own)), '429 quota_exceeded', "a key's own quota does not replace a named set";

# one round trip: a request with two quotas and credits is one script call,
# on a miss and on a cache hit alike
my $one = key('one call');
$redis->cmd('HSET', rec($one), 'credits', 10);
for my $path ('a miss', 'a cache hit') {
    $redis->cmd('CONFIG', 'RESETSTAT');
    is seen(get('/export/x', $one)), '200 ok', "$path: passes";
    is $redis->calls('evalsha'), 1, "$path: one EVALSHA counts both quotas and spends the credit";
    # (the usage flush, about once a second, is no part of the request)
}
is $redis->cmd('HGET', rec($one), 'credits'), 8, 'both requests spent their credit';

# --- per=owner: the owner's keys share one count (a week) ---------------------
my ($o1, $o2, $o3) = (key('owner 1'), key('owner 2'), key('other owner'));
$redis->cmd('HSET', rec($o1), 'owner', 'acme');
$redis->cmd('HSET', rec($o2), 'owner', 'acme');
$redis->cmd('HSET', rec($o3), 'owner', 'globex');
is seen(get('/team/x', $o1)), '200 ok', 'owner acme, key 1: 1 of 3 this week';
is seen(get('/team/x', $o2)), '200 ok', 'owner acme, key 2: 2 of 3';
is seen(get('/team/x', $o1)), '200 ok', 'owner acme, key 1: 3 of 3';
$res = get('/team/x', $o2);
is seen($res), '429 quota_exceeded', "per=owner: the owner's count is shared by its keys";
like h($res, 'RateLimit-Policy'), qr/"default\/3\/week";q=3;w=604800/, '... a week is 604800 s';
is $redis->cmd('HGET', 'apikey:owner_quota:acme', 'default/week'), "$week_first:3",
   'the week count starts on Monday, under the owner name';
is seen(get('/team/x', $o3)), '200 ok', "another owner's count is its own";

# --- credits -------------------------------------------------------------------
my $cr = key('credits');
$redis->cmd('HSET', rec($cr), 'credits', 3, 'credits_granted', 3);
$res = get('/bare/x', $cr);
is seen($res), '200 ok', 'a key with 3 credits passes';
is h($res, 'X-Credits'), 2, '... $apikey_credits_remaining is 2';
is seen(get('/scoped/x', $cr)), '403 forbidden', 'a refused request (403) ...';
is $redis->cmd('HGET', rec($cr), 'credits'), 2, '... takes no credit';
$res = get('/costly/x', $cr);
is seen($res), '200 ok', 'apikey_cost 2 with 2 credits left passes';
is h($res, 'X-Credits'), 0, '... and leaves 0';
$res = get('/bare/x', $cr);
is seen($res), '429 credits_exhausted', 'at 0 credits: 429 credits_exhausted';
is body($res)->{error}, 'credits_exhausted', '... JSON error credits_exhausted';
ok !defined h($res, 'Retry-After'), '... no Retry-After without a refill';
is seen(get('/free/x', $cr)), '200 ok', 'apikey_cost 0: a free location passes at 0 credits';
is $redis->cmd('HGET', rec($cr), 'credits'), 0, 'credits never go below 0';

my $cost = key('cost');
$redis->cmd('HSET', rec($cost), 'credits', 1);
is seen(get('/costly/x', $cost)), '429 credits_exhausted', 'a cost of 2 with 1 credit left: refused';
is $redis->cmd('HGET', rec($cost), 'credits'), 1, '... and the credit is still there';
is seen(get('/bare/x', $cost)), '200 ok', '... for a request that costs 1';

my $lim = key('credits and limits');
$redis->cmd('HSET', rec($lim), 'credits', 10);
get('/both/x', $lim);
is seen(get('/both/x', $lim)), '429 limited', 'refused by a bucket ...';
is $redis->cmd('HGET', rec($lim), 'credits'), 9, '... takes no credit either';

# credits_exhausted comes before quota_exceeded
my $both = key('both out');
$redis->cmd('HSET', rec($both), 'credits', 0, 'quota', '1/day');
$redis->cmd('HSET', "apikey:quota:{$both->{id}}", 'default/day', "$today:1");
is seen(get('/api/x', $both)), '429 credits_exhausted', 'out of credits and over quota: credits_exhausted';

# refill: credits back to N at each UTC day start, written with the request
my $rf = key('refill');
$redis->cmd('HSET', rec($rf), 'credits', 0, 'credits_granted', 5, 'refill', '5/day',
            'refilled', $day_start - 86400);
$res = get('/bare/x', $rf);
is seen($res), '200 ok', 'a refill due since yesterday: the request passes';
is h($res, 'X-Credits'), 4, '... from 5 refilled credits';
is_deeply [ split /\n/, $redis->cmd('HMGET', rec($rf), 'credits', 'credits_granted', 'refilled') ],
          [ 4, 5, $day_start ], '... credits, credits_granted and refilled written';
$redis->cmd('HSET', rec($rf), 'credits', 0);
$res = get('/bare/x', $rf);
is seen($res), '429 credits_exhausted', 'spent within the day: refused until the next refill';
$retry = h($res, 'Retry-After');
ok defined $retry && abs($retry - to_midnight()) <= 3,
   "... Retry-After is the seconds until the refill ($retry)";
is body($res)->{retry_after}, $retry, '... and the body says so';

# the largest refill is written back as a whole number, never as 1e+12
my $big = key('big refill');
$redis->cmd('HSET', rec($big), 'refill', '1000000000000/month');
is h(get('/bare/x', $big), 'X-Credits'), 999999999999, 'a refill of 10^12: one taken';
is_deeply [ split /\n/, $redis->cmd('HMGET', rec($big), 'credits', 'credits_granted') ],
          [ 999999999999, 1000000000000 ], '... credits and credits_granted stored as integers';

# a cache hit counts too (the "limit" call carries the quota and credits)
my $cached = key('cached credits');
$redis->cmd('HSET', rec($cached), 'credits', 2);
is seen(get('/bare/x', $cached)), '200 ok', 'first request: the record is cached';
$res = get('/bare/x', $cached);
is seen($res), '200 ok', 'second, from the cache';
is h($res, 'X-Credits'), 0, '... still spends a credit in Redis';
is seen(get('/bare/x', $cached)), '429 credits_exhausted', 'third: none left, cache or not';

# --- "who am I" shows them without using them ---------------------------------
my $me = key('me');
$redis->cmd('HSET', rec($me), 'credits', 7, 'refill', '7/day', 'refilled', $day_start);
get('/api/x', $me);
$res = get('/me', $me);
is $res->{status}, 200, '/me answers';
my $j = body($res);
is_deeply [ map { [ @$_{qw(bucket period limit used remaining)} ] } @{ $j->{quotas} } ],
          [ [ 'default', 'day', 3, 1, 2 ] ], '/me: used, remaining of the quota';
ok abs($j->{quotas}[0]{reset} - to_midnight()) <= 3, '/me: reset in seconds'
    or diag "reset $j->{quotas}[0]{reset}, to midnight " . to_midnight();
is $j->{credits}{remaining}, 6, '/me: the credits left';
ok abs($j->{credits}{refill_in} - to_midnight()) <= 3, '/me: when they are refilled'
    or diag "refill_in $j->{credits}{refill_in}, to midnight " . to_midnight();
get('/me', $me) for 1 .. 3;
is $redis->cmd('HGET', "apikey:quota:{$me->{id}}", 'default/day'), "$today:1",
   '/me counts nothing ...';
is $redis->cmd('HGET', rec($me), 'credits'), 6, '... and spends nothing';
my $plain = key('plain');
$j = body(get('/me', $plain));
is $j->{credits}, undef, '/me: credits null for a key without credits';

# --- dry run lets both refusals through, accounted as usual --------------------
my $dry = key('dry');
$redis->cmd('HSET', rec($dry), 'credits', 0);
$res = get('/dry/x', $dry);
is seen($res), '200 credits_exhausted', 'dry run: credits_exhausted passes, $apikey_result says so';
my $dry2 = key('dry 2');
get('/dry/x', $dry2);
is seen(get('/dry/x', $dry2)), '200 quota_exceeded', 'dry run: quota_exceeded passes';

# --- per-key usage counts both refusals (flushed within about a second) ---------
ok poll_until(5, sub { ($redis->cmd('HGET', "apikey:usage:{$a->{id}}:$today", 'quota_exceeded') // '') eq '1' }),
   'usage: the quota refusal counted as quota_exceeded';
is $redis->cmd('HGET', "apikey:usage:{$a->{id}}:$today", 'ok'), 4, '... beside the requests let through';
ok poll_until(5, sub { ($redis->cmd('HGET', "apikey:usage:{$cost->{id}}:$today", 'credits_exhausted') // '') eq '1' }),
   'usage: the credits refusal counted as credits_exhausted';

# --- metrics ---------------------------------------------------------------
my $m = $nginx->get('/metrics')->{body};
like $m, qr/^apikey_requests_total\{result="quota_exceeded"\} [1-9]/m, 'metrics count quota_exceeded';
like $m, qr/^apikey_requests_total\{result="credits_exhausted"\} [1-9]/m, '... and credits_exhausted';
like $m, qr/^apikey_requests_total\{result="quota_exceeded",dry_run="1"\} 1$/m, '... dry runs labelled';

$nginx->check_logs;
done_testing;
