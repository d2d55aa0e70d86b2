# apikey_dry_run on, as limit_req_dry_run: every refusal that would happen
# (401, 403, 429) is logged and counted, $apikey_result says which, and the
# request passes; buckets are accounted as usual. A Redis failure is still
# apikey_fail_mode's; the admin API and "who am I" always enforce.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $shown = 'add_header X-Result $apikey_result always; add_header X-Dry-Run $apikey_dry_run always;';
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    http => 'apikey_dry_run on;',   # every location below unless it says off
    location => "apikey on; apikey_scope read; apikey_env live; apikey_limit 60r/m burst=2; $shown",
    server => <<"EOF");
        location /enforced/ {
            apikey on; apikey_dry_run off; apikey_scope read; apikey_env live; apikey_limit 60r/m burst=2; $shown
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
        location /tls/ {
            apikey on; apikey_require_tls on; $shown
            proxy_pass http://127.0.0.1:\$upstream_port;
        }
        location = /me { apikey_introspect; }
        location /admin/ { apikey_admin scope=admin; }
        location = /metrics { apikey_metrics; }
EOF

sub key { $redis->create_key(name => shift, scopes => ['read'], @_) }
sub cli_key {
    my ($name, @args) = @_;
    my ($status, $out, $err) = $redis->cli('create', '--json', '--name', $name, @args);
    die $err if $status;
    return ApikeyTest::json_of($out);
}
sub get {
    my ($path, $token) = @_;
    return $nginx->get($path, $token ? ('X-API-Key' => $token) : ());
}
sub seen {
    my ($res) = @_;
    return join ' ', $res->{status}, ApikeyTest::Nginx::header($res, 'X-Result') // '-',
                     ApikeyTest::Nginx::header($res, 'X-Dry-Run') // '-';
}

my $good = key('good');
my $revoked = key('revoked');
$redis->cli('revoke', $revoked->{id});
my $expired = key('expired');
$redis->cmd('HSET', "apikey:key:{$expired->{id}}", 'expires', time - 60);
my $disabled = key('disabled');
$redis->cli('disable', $disabled->{id});
my $unscoped = $redis->create_key(name => 'no read scope');
my $test_env = cli_key('test env', '--scope', 'read', '--env', 'test');
my $elsewhere = cli_key('other network', '--scope', 'read', '--allow-ip', '10.0.0.0/8');
my $forged = ApikeyTest::with_checksum('ak_live_zzzzzzzzzzzz_' . ('A' x 40));

# every refusal kind passes, saying what it would have been
my @cases = (
    ['no key',                  undef,              'missing'],
    ['a malformed key',         'nope',             'malformed'],
    ['an unknown key',          $forged,            'invalid'],
    ['a revoked key',           $revoked->{token},  'revoked'],
    ['an expired key',          $expired->{token},  'expired'],
    ['a disabled key',          $disabled->{token}, 'disabled'],
    ['a key without the scope', $unscoped->{token}, 'forbidden'],
    ['a test key on live',      $test_env->{token}, 'wrong_environment'],
    ['a key from elsewhere',    $elsewhere->{token}, 'ip_not_allowed'],
);
for my $case (@cases) {
    my ($what, $token, $result) = @$case;
    my $res = get('/api/x', $token);
    is seen($res), "200 $result 1", "dry run, $what: passes, \$apikey_result $result, \$apikey_dry_run 1";
    like $res->{body}, qr/^upstream /, '... and reaches the upstream';
    (my $enforced = $result) =~ s/^(missing|malformed|invalid|revoked|expired|disabled)$/401/;
    $enforced =~ s/^(forbidden|wrong_environment|ip_not_allowed)$/403/;
    is get('/enforced/x', $token)->{status}, $enforced, "... where dry run is off: $enforced";
}

is seen(get('/tls/x', $good->{token})), '200 insecure 1',
    'dry run, a key over plain HTTP with apikey_require_tls: passes, $apikey_result insecure';

# rate limit: burst 2, then a would-be 429 passes; the bucket is accounted as
# usual (the refused request takes nothing, as a real 429 would not)
my $limited = key('limited');
my @seen = map { seen(get('/api/x', $limited->{token})) } 1 .. 4;
is_deeply \@seen, ['200 ok 1', '200 ok 1', '200 limited 1', '200 limited 1'],
    'dry run, over the limit: passes with $apikey_result limited';
my $res = get('/api/x', $limited->{token});
my $fields = join ' ', grep { defined } map { ApikeyTest::Nginx::header($res, $_) } 'RateLimit-Remaining', 'RateLimit';
like $fields, qr/^0$|;r=0\b/, '... with the RateLimit fields of the empty bucket (remaining 0)';
is get('/enforced/x', $limited->{token})->{status}, 429,
    '... the same bucket, where dry run is off: 429 (the passes took tokens as usual)';

is seen(get('/api/x', $good->{token})), '200 ok 1', 'a good key: ok, $apikey_dry_run 1';
is seen(get('/enforced/x', $good->{token})), '200 ok 0', 'where dry run is off: $apikey_dry_run 0';

# logged as refusals are, marked
my $log = $nginx->error_log;
like $log, qr/apikey: dry run, would have refused key "\Q$limited->{id}\E": limited/,
    'error log: "dry run, would have refused key" with the id and the result';
like $log, qr/apikey: dry run, would have refused request: missing/, '... and for a request without a key';
like $log, qr/apikey: refused key "\Q$revoked->{id}\E": revoked/, 'the enforced refusal is logged as before';

# counted apart
my $metrics = get('/metrics')->{body};
sub sample { $metrics =~ /^\Q$_[0]\E (\d+)$/m ? $1 : undef }
is sample('apikey_requests_total{result="limited",dry_run="1"}'), 3, 'metrics: limited under dry run';
is sample('apikey_requests_total{result="missing",dry_run="1"}'), 1, 'metrics: missing under dry run';
is sample('apikey_requests_total{result="limited"}'), 1, 'metrics: the enforced 429 alone without the label';
is sample('apikey_requests_total{result="ok",dry_run="1"}'), 3, 'metrics: passes under dry run are labelled too';

SKIP: {
    skip 'promtool not installed (scripts/install-deps)', 1 unless `which promtool` =~ /\S/;
    my $file = $nginx->dir . '/scrape.txt';
    open my $f, '>', $file or die;
    print $f $metrics;
    close $f;
    my $out = `promtool check metrics < $file 2>&1`;
    is $?, 0, 'promtool check metrics accepts the labelled series' or diag $out;
}

# never opened by a dry run at http level
is get('/admin/keys')->{status}, 401, 'the admin API still refuses a request without a key';
is get('/me')->{status}, 401, '"who am I" still refuses a request without a key';

# a Redis failure is not a refusal of the key: apikey_fail_mode closed
$redis->stop;
is get('/api/x', $good->{token})->{status}, 503, 'Redis down under dry run: 503 (apikey_fail_mode closed)';

# nginx -t
my (undef, $bad) = ApikeyTest::Nginx->test_conf(location => 'apikey on; apikey_dry_run maybe;');
like $bad, qr/invalid value "maybe" in "apikey_dry_run" directive/, 'nginx -t: apikey_dry_run on|off';

unlike $nginx->error_log, qr/\[(alert|emerg|crit)\]/, 'error log: no alert, emerg or crit';

done_testing;
