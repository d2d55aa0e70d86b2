# The current draft's RateLimit fields (draft-ietf-httpapi-ratelimit-headers
# -10/-11, the default: apikey_ratelimit_headers draft) against real bucket
# state: every RateLimit and RateLimit-Policy value seen is parsed by an RFC
# 9651 parser nobody here wrote (the npm package structured-headers, installed
# into build/sfv from t/sfv/package-lock.json), and its names, q, w, r and t
# are held against the buckets. legacy gives the draft-06 fields only, off none.
use strict;
use warnings;
use lib 't/lib';
use File::Compare qw(compare);
use File::Copy qw(copy);
use File::Path qw(make_path);
use File::Temp ();
use JSON::PP;
use Test::More;
use Time::HiRes qw(time);
use ApikeyTest;

my ($node_major) = (`node --version 2>/dev/null` // '') =~ /^v(\d+)\./;
plan skip_all => 'no node' unless $node_major;

my $root = root();
my $tools = "$root/build/sfv";

# npm ci into build/sfv from the committed lock, once: reused while the lock
# is unchanged (as t/420 does for its tools)
sub install_parser {
    return 1 if -f "$tools/node_modules/structured-headers/package.json"
             && compare("$root/t/sfv/package-lock.json", "$tools/package-lock.json") == 0
             && compare("$root/t/sfv/package.json", "$tools/package.json") == 0;
    make_path($tools);
    copy("$root/t/sfv/$_", "$tools/$_") or die "copy $_: $!" for qw(package.json package-lock.json);
    my $out = `npm ci --prefix '$tools' --ignore-scripts --no-audit --no-fund 2>&1`;
    if ($? != 0) {
        unlink "$tools/package-lock.json";   # try again next time
        return (0, $out);
    }
    return -f "$tools/node_modules/structured-headers/package.json";
}
my ($installed, $npm_out) = install_parser();
plan skip_all => "npm could not install structured-headers (is the npm registry reachable?):\n$npm_out"
    unless $installed;

# [field, value] pairs -> what structured-headers made of each
sub sf_parse {
    my @pairs = @_;
    my $in = File::Temp->new;
    print $in map { "$_->[0]\t$_->[1]\n" } @pairs;
    close $in;
    my $out = `node '$root/t/sfv/parse.mjs' '$tools/node_modules' < '$in' 2>&1`;
    die "parse.mjs failed: $out" if $?;
    return @{ decode_json($out) };
}

my $H = \&ApikeyTest::Nginx::header;
my $seen = 0;

# The draft fields of a response, parsed: { policy => [[name, q, w], ...],
# limit => [name, r, t] }. Fails the test unless each field is there once,
# parses as an RFC 9651 List, every member is an sf-string with exactly the
# draft's Integer parameters, and RateLimit names a policy of RateLimit-Policy.
sub draft {
    my ($res, $what) = @_;
    my @policy = @{ $res->{headers}{'ratelimit-policy'} // [] };
    my @limit = @{ $res->{headers}{ratelimit} // [] };
    is scalar(@policy) . '/' . scalar(@limit), '1/1', "$what: one RateLimit-Policy, one RateLimit"
        or return {};
    ok !defined $H->($res, $_), "$what: no $_" for qw(RateLimit-Limit RateLimit-Remaining RateLimit-Reset);
    my ($p, $l) = sf_parse(['RateLimit-Policy', $policy[0]], ['RateLimit', $limit[0]]);
    $seen += 2;
    ok $p->{ok}, "$what: RateLimit-Policy parses ($policy[0])" or diag $p->{error};
    ok $l->{ok}, "$what: RateLimit parses ($limit[0])" or diag $l->{error};
    my %d = (policy => [], limit => []);
    for my $m (@{ $p->{items} // [] }) {
        is $m->{kind}, 'string', "$what: a policy's name is an sf-string";
        is join(',', sort keys %{ $m->{params} }), 'q,w', "$what: with q and w";
        ok !ref($m->{params}{$_}), "$what: $_ an Integer" for sort keys %{ $m->{params} };
        push @{ $d{policy} }, [$m->{name}, $m->{params}{q}, $m->{params}{w}];
    }
    is scalar(@{ $l->{items} // [] }), 1, "$what: RateLimit names one policy";
    my $m = $l->{items}[0] // { params => {} };
    is $m->{kind}, 'string', "$what: RateLimit's name is an sf-string";
    is join(',', sort keys %{ $m->{params} }), 'r,t', "$what: with r and t";
    ok !ref($m->{params}{$_}), "$what: $_ an Integer" for sort keys %{ $m->{params} };
    $d{limit} = [$m->{name}, $m->{params}{r}, $m->{params}{t}];
    ok((grep { $_->[0] eq ($m->{name} // '') } @{ $d{policy} }), "$what: a policy RateLimit-Policy lists");
    return \%d;
}

my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    workers => 2,
    http => 'apikey_local_limits zone=buckets:1m;',
    location => 'apikey on; apikey_scope read;',
    server => <<'EOF',
        location /multi/ {
            apikey on;
            apikey_limit 100r/s burst=100;
            apikey_limit 5r/m burst=5;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /export/ {
            apikey on;
            apikey_limit 100r/m burst=10;
            apikey_limit 2r/m burst=2 bucket=export;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /local/ {
            apikey on;
            apikey_limit 100r/m burst=10 store=local;
            apikey_limit 3r/m burst=3 bucket=slow store=local;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /team/ {
            apikey on;
            apikey_limit 100r/m burst=10;
            apikey_limit 60r/m burst=4 bucket=team per=owner;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /legacy/ {
            apikey on;
            apikey_ratelimit_headers legacy;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /off/ {
            apikey on;
            apikey_ratelimit_headers off;
            apikey_limit 1r/m burst=1;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
EOF
);

# --- one bucket, sequential requests: r goes down one by one, and r and t are
# what the bucket in Redis holds (5 per hour: nothing refills meanwhile)
my $slow = $redis->create_key(name => 'slow', scopes => ['read'], limits => ['5r/h:5']);
my $bucket = "apikey:bucket:{$slow->{id}}:default";
my @t;
for my $n (1 .. 5) {
    my $res = $nginx->get('/api/x', 'X-API-Key' => $slow->{token});
    is $res->{status}, 200, "request $n passes";
    my $d = draft($res, "request $n");
    is_deeply $d->{policy}, [['default', 5, 3600]], "request $n: RateLimit-Policy \"default\";q=5;w=3600";
    is $d->{limit}[0], 'default', "request $n: RateLimit names default";
    is $d->{limit}[1], 5 - $n, "request $n: r=" . (5 - $n);
    push @t, $d->{limit}[2];

    # the bucket's state: "interval:burst:tat" and Redis's clock
    my ($iv, $b, $tat) = $redis->cmd('GET', $bucket) =~ /^(\d+):(\d+):(\d+)$/;
    my ($s, $us) = split /\n/, $redis->cmd('TIME');
    my $now = $s * 1_000_000 + $us;
    my $tokens = int(($now - ($tat - $b * $iv)) / $iv);
    is $tokens, $d->{limit}[1], "request $n: r is the bucket's whole tokens in Redis";
    my $next = $tat - $now - ($b - $tokens - 1) * $iv;   # until one more token
    ok $d->{limit}[2] >= $next / 1e6 && $d->{limit}[2] <= $next / 1e6 + 2,
        "request $n: t ($d->{limit}[2]) is the bucket's wait for its next token (" . $next / 1e6 . ' s)';
}
ok $t[0] == 720 && !(grep { $t[$_] > $t[$_ - 1] } 1 .. $#t),
    "t starts at the 720 s per token and never grows (@t)";
my $refused = $nginx->get('/api/x', 'X-API-Key' => $slow->{token});
is $refused->{status}, 429, 'the sixth is refused';
my $d = draft($refused, '429');
is_deeply $d->{limit}, ['default', 0, $H->($refused, 'Retry-After')],
    '429: RateLimit "default";r=0 and t equal to Retry-After';
ok $d->{limit}[2] >= 700, "... the wait for the next token of 720 s ($d->{limit}[2])";

# --- the default bucket (100r/m burst=10) under concurrency, as t/100 does it
my $burst = $redis->create_key(name => 'burst', scopes => ['read']);
my @res = $nginx->parallel(20, 'GET', '/api/x', 'X-API-Key' => $burst->{token});
my @ok = grep { $_->{status} == 200 } @res;
my @limited = grep { $_->{status} == 429 } @res;
is scalar(@ok), 10, '20 at once: 10 pass';
my @r;
for my $res (@ok) {
    my $d = draft($res, 'a pass');
    is_deeply $d->{policy}, [['default', 10, 6]], 'RateLimit-Policy "default";q=10;w=6';
    is $d->{limit}[2], 1, 't=1: a token every 0.6 s';
    push @r, $d->{limit}[1];
}
is_deeply [sort { $a <=> $b } @r], [0 .. 9], 'the passes saw r 9 down to 0, once each';
for my $res (@limited) {
    is_deeply draft($res, 'a 429')->{limit}, ['default', 0, $H->($res, 'Retry-After')],
        '429: r=0, t is Retry-After';
}

# --- several buckets of one set: named by their lines; RateLimit names the
# one closest to refusing
my $multi = $redis->create_key(name => 'multi', scopes => ['read']);
my $first = $nginx->get('/multi/x', 'X-API-Key' => $multi->{token});
$d = draft($first, 'two lines');
is_deeply $d->{policy}, [['default/100r/s:100', 100, 1], ['default/5r/m:5', 5, 60]],
    'RateLimit-Policy: "default/100r/s:100";q=100;w=1, "default/5r/m:5";q=5;w=60';
is_deeply $d->{limit}, ['default/5r/m:5', 4, 12],
    'RateLimit: the 5r/m bucket, fewer left (4 of 5, not 99 of 100), next token in 12 s';
is scalar(grep { $_->{status} == 200 } $nginx->parallel(6, 'GET', '/multi/x', 'X-API-Key' => $multi->{token})),
    4, 'the 5r/m bucket decides';
$refused = $nginx->get('/multi/x', 'X-API-Key' => $multi->{token});
is $refused->{status}, 429, 'refused';
is_deeply draft($refused, 'two lines, 429')->{limit}, ['default/5r/m:5', 0, $H->($refused, 'Retry-After')],
    '429: the refusing bucket, t is Retry-After';

# --- a set of its own (bucket=export) next to the default set
my $exporter = $redis->create_key(name => 'exporter', scopes => ['read']);
$d = draft($nginx->get('/export/x', 'X-API-Key' => $exporter->{token}), 'bucket=export');
is_deeply $d->{policy}, [['default', 10, 6], ['export', 2, 60]],
    'RateLimit-Policy: "default";q=10;w=6, "export";q=2;w=60';
is_deeply $d->{limit}, ['export', 1, 30], 'RateLimit: "export";r=1;t=30 (1 left of 2, not 9 of 10)';

# --- a key's own limits replace the default set's lines, and their names
my $paid = $redis->create_key(name => 'paid', scopes => ['read'], limits => ['600r/m:50', '10000r/d:10000']);
$d = draft($nginx->get('/api/x', 'X-API-Key' => $paid->{token}), 'own limits');
is_deeply $d->{policy}, [['default/600r/m:50', 50, 5], ['default/10000r/d:10000', 10000, 86400]],
    'RateLimit-Policy: the key\'s own two limits';
is_deeply $d->{limit}, ['default/600r/m:50', 49, 1], 'RateLimit: 49 of 50 left';
my $one = $redis->create_key(name => 'one limit', scopes => ['read'], limits => ['12r/m:3']);
$d = draft($nginx->get('/api/x', 'X-API-Key' => $one->{token}), 'one own limit');
is_deeply $d->{policy}, [['default', 3, 15]], 'one own limit: "default";q=3;w=15';
is_deeply $d->{limit}, ['default', 2, 5], 'and "default";r=2;t=5';

# --- a plan's limits (the record's copy, plan_limits) likewise
my $planned = $redis->create_key(name => 'planned', scopes => ['read']);
$redis->cmd('HSET', "apikey:key:{$planned->{id}}", 'plan_limits', '30r/m:3');
$d = draft($nginx->get('/api/x', 'X-API-Key' => $planned->{token}), 'plan limits');
is_deeply $d->{policy}, [['default', 3, 6]], 'plan limit 30r/m:3: "default";q=3;w=6';
is_deeply $d->{limit}, ['default', 2, 2], 'and "default";r=2;t=2';

# --- per=owner: the owner's bucket keeps its set's name, and two keys of one
# owner see one partition go down (no pk: each key's own response)
my @team = map { $redis->create_key(name => "team $_") } 1 .. 2;
$redis->cmd('HSET', "apikey:key:{$_->{id}}", 'owner', 'acme') for @team;
$d = draft($nginx->get('/team/x', 'X-API-Key' => $team[0]{token}), 'per=owner, first key');
is_deeply $d->{policy}, [['default', 10, 6], ['team', 4, 4]], 'per=owner: "default";q=10;w=6, "team";q=4;w=4';
is_deeply $d->{limit}, ['team', 3, 1], 'first key: "team";r=3;t=1';
$d = draft($nginx->get('/team/x', 'X-API-Key' => $team[1]{token}), 'per=owner, second key');
is_deeply $d->{limit}, ['team', 2, 1], 'second key of the owner: "team";r=2 (its own default bucket has 9)';

# --- store=local: named the same way
my $local = $redis->create_key(name => 'local', scopes => ['read']);
$d = draft($nginx->get('/local/x', 'X-API-Key' => $local->{token}), 'store=local');
is_deeply $d->{policy}, [['default', 10, 6], ['slow', 3, 60]], 'local: "default";q=10;w=6, "slow";q=3;w=60';
is_deeply $d->{limit}, ['slow', 2, 20], 'local: "slow";r=2;t=20';

# --- 401 and 403 take no token and describe no quota
my $plain = $nginx->get('/api/x', 'X-API-Key' => 'ak_live_nope');
is $plain->{status}, 401, 'an unknown key: 401';
ok !defined $H->($plain, $_), "401: no $_" for qw(RateLimit RateLimit-Policy);
my $noscope = $redis->create_key(name => 'noscope');
my $forbidden = $nginx->get('/api/x', 'X-API-Key' => $noscope->{token});
is $forbidden->{status}, 403, 'a key without the scope: 403';
ok !defined $H->($forbidden, $_), "403: no $_" for qw(RateLimit RateLimit-Policy);

# --- legacy: the draft-06 fields only, which a client of the current draft
# must ignore (RateLimit-Policy "10;w=6" is a List of an Integer, no String)
my $old = $redis->create_key(name => 'old client');
my $legacy = $nginx->get('/legacy/x', 'X-API-Key' => $old->{token});
is $legacy->{status}, 200, 'legacy: a pass';
is $H->($legacy, 'RateLimit-Limit'), 10, 'legacy: RateLimit-Limit';
is $H->($legacy, 'RateLimit-Remaining'), 9, 'legacy: RateLimit-Remaining';
is $H->($legacy, 'RateLimit-Reset'), 1, 'legacy: RateLimit-Reset';
is $H->($legacy, 'RateLimit-Policy'), '10;w=6', 'legacy: RateLimit-Policy 10;w=6';
ok !defined $H->($legacy, 'RateLimit'), 'legacy: no RateLimit';
my ($lp) = sf_parse(['RateLimit-Policy', $H->($legacy, 'RateLimit-Policy')]);
isnt $lp->{items}[0]{kind}, 'string', 'legacy RateLimit-Policy has no policy name for the current draft';

# --- off: no RateLimit field at all; Retry-After stays on the 429
my $quiet = $redis->create_key(name => 'quiet');
my $pass = $nginx->get('/off/x', 'X-API-Key' => $quiet->{token});
is $pass->{status}, 200, 'off: a pass';
my $no = $nginx->get('/off/x', 'X-API-Key' => $quiet->{token});
is $no->{status}, 429, 'off: still limited (1r/m burst=1)';
for my $res ($pass, $no) {
    ok !(grep { /^ratelimit/ } keys %{ $res->{headers} }), "off: no RateLimit* field ($res->{status})"
        or diag explain [keys %{ $res->{headers} }];
}
ok(($H->($no, 'Retry-After') // 0) >= 59, 'off: the 429 keeps its Retry-After (a minute per token)');

# the configuration: an unknown mode is refused at nginx -t
my ($ok, $out) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379',
                                              location => 'apikey on; apikey_ratelimit_headers rfc;');
ok !$ok, 'apikey_ratelimit_headers rfc: refused';
like $out, qr/invalid value "rfc"/, 'with nginx\'s message';

cmp_ok $seen, '>=', 60, "every one of the $seen draft values seen parsed with structured-headers";

$nginx->stop;
done_testing;
