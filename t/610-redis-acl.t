# Redis 6+ ACL users, over TLS: apikey_redis ... user=NAME password=SECRET
# sends AUTH NAME SECRET, and everything the module, the admin API and
# apikeyctl do works under the least-privilege rules README gives (only the
# commands each sends, only keys under the prefix, only its channel), with the
# default user off. The rules (t/lib/ApikeyTls.pm) are checked to be README's.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use ApikeyTest;
use ApikeyTls;
use POSIX ();

my $certs = ApikeyTls::certs();
# the rules of README, "Least-privilege ACL users" (t/lib/ApikeyTls.pm)
my $acl = ApikeyTls::acl_file("user odd\@user on >p\@ss:w%rd $ApikeyTls::CLI_RULE");

# README gives exactly these rules
my $readme = do { local (@ARGV, $/) = ApikeyTest::root() . '/README.md'; <> };
ok index($readme, "ACL SETUSER apikey-module on >MODULE-PASSWORD $ApikeyTls::MODULE_RULE\n") >= 0,
    "README's rule for the module is the one tested";
ok index($readme, "plus\n`$ApikeyTls::ADMIN_EXTRA`") >= 0
   || index($readme, "plus `$ApikeyTls::ADMIN_EXTRA`") >= 0,
    "README's additions for the admin API are the ones tested";
ok index($readme, "`$ApikeyTls::METRICS_EXTRA`") >= 0,
    "README's addition for apikey_metrics is the one tested";
ok index($readme, "ACL SETUSER apikeyctl on >CTL-PASSWORD $ApikeyTls::CLI_RULE\n") >= 0,
    "README's rule for apikeyctl is the one tested";

my $redis = ApikeyTls::Redis->start(certs => $certs, admin => ['admin', 'adminpw'],
                                    args => ['--aclfile', $acl]);
like $redis->cmd('ACL', 'WHOAMI'), qr/^admin$/, 'the harness is the admin user';
like $redis->cmd('ACL', 'LIST'), qr/user default off/, 'the default user is off';

sub as_cli { ApikeyTest::cli($redis->cli_env(APIKEY_REDIS => "rediss://apikeyctl:ctlpw\@" . $redis->address), @_) }

# --- apikeyctl under its rule: every command
my ($status, $out, $err) = as_cli('create', '--json', '--name', 'acl key', '--scope', 'read');
is $status, 0, 'apikeyctl create as an ACL user (rediss://user:password@)' or diag $err;
my $key = ApikeyTest::json_of($out) // {};
($status, $out, $err) = as_cli('create', '--json', '--name', 'limited', '--scope', 'read');
my $doomed = ApikeyTest::json_of($out) // {};
for my $cmd (['list'], ['show', $key->{id}], ['update', $key->{id}, '--name', 'acl key 2'],
             ['audit'], ['extend', $key->{id}, '--expires-in', '30d'],
             ['update', $key->{id}, '--quota', '1000/day', '--credits', '10', '--refill', '10/day'],
             ['credits', $key->{id}, '--add', '5'], ['update', $key->{id}, '--no-quota', '--no-credits'],
             ['limits', $key->{id}, '--reset']) {
    ($status, undef, $err) = as_cli(@$cmd);
    is $status, 0, "apikeyctl @$cmd[0] under the apikeyctl rule" or diag $err;
}
($status, undef, $err) = ApikeyTest::cli($redis->cli_env(
    APIKEY_REDIS => 'rediss://' . $redis->address, APIKEY_REDIS_USER => 'apikeyctl',
    APIKEY_REDIS_PASSWORD => 'ctlpw'), 'list');
is $status, 0, 'APIKEY_REDIS_USER and APIKEY_REDIS_PASSWORD' or diag $err;
($status, undef, $err) = ApikeyTest::cli($redis->cli_env(
    APIKEY_REDIS => "rediss://apikeyctl:wrong\@" . $redis->address), 'list');
is $status, 1, 'a wrong password: exit 1';
like $err, qr/WRONGPASS/, '... WRONGPASS';
unlike $err, qr/wrong/, '... and the password is not echoed';
($status, undef, $err) = ApikeyTest::cli($redis->cli_env(
    APIKEY_REDIS => 'rediss://odd%40user:p%40ss%3Aw%25rd@' . $redis->address), 'list');
is $status, 0, 'a user and password with @, : and %, %-escaped in the address' or diag $err;

# the rule is least privilege: nothing outside the prefix
$redis->cmd('SET', 'other:secret', 'x');
my $as = sub {
    my ($user, $pw, @args) = @_;
    open my $p, '-|', 'redis-cli', ApikeyTls::redis_cli_args($certs), '-p', $redis->port,
        '--no-auth-warning', '--user', $user, '--pass', $pw, @args or die;
    local $/;
    return <$p> // '';
};
like $as->('apikey-module', 'modulepw', 'GET', 'other:secret'), qr/NOPERM/,
    'the module user reads no key outside the prefix';
like $as->('apikey-module', 'modulepw', 'HGETALL', "apikey:key:{$key->{id}}"), qr/NOPERM/,
    '... and cannot dump a record (no HGETALL)';
like $as->('apikey-module', 'modulepw', 'PUBLISH', 'apikey:invalidate', 'x'), qr/NOPERM/,
    '... nor publish';
like $as->('apikey-module', 'modulepw', 'FLUSHALL'), qr/NOPERM/, '... nor FLUSHALL';
like $as->('apikeyctl', 'ctlpw', 'SUBSCRIBE', 'other'), qr/NOPERM/,
    'the apikeyctl user subscribes to nothing';
like $as->('apikeyctl', 'ctlpw', 'SCRIPT', 'FLUSH'), qr/NOPERM/, '... and flushes no script';

# --- the module under its rule: checks, rate limits, last_used, the cache's
# subscription and its invalidations
{
    my $nginx = ApikeyTest::Nginx->start(
        redis => $redis,
        redis_args => "user=apikey-module password=modulepw tls tls_ca=$certs->{ca}",
        http => 'apikey_cache zone=apikeys:1m ttl=60s;',
        location => 'apikey on; apikey_scope read GET; apikey_last_used_interval 1s;',
        server => 'location /quota/ { apikey on; apikey_limit off; apikey_quota 1/day; proxy_pass http://127.0.0.1:$upstream_port; }');
    sleep 0.3;   # the subscription
    my $get = sub { $nginx->get('/api/x', 'X-API-Key' => $_[0]{token})->{status} };
    is $get->($key), 200, 'user=apikey-module: a key is checked';
    my $quota = sub { $nginx->get('/quota/x', 'X-API-Key' => $_[0]{token})->{status} };
    is_deeply [ map { $quota->($key) } 1 .. 2 ], [ 200, 429 ],
        '... a calendar quota is counted (HGET, HSET, EXPIRE in the script)';
    is $get->({ token => 'ak_000000000000_' . ('A' x 46) }), 401, '... an unknown key: 401';
    like $redis->cmd('HGET', "apikey:key:{$key->{id}}", 'last_used'), qr/^\d+$/,
        '... last_used is written';
    my @statuses = map { $get->($doomed) } 1 .. 12;
    is scalar(grep { $_ == 429 } @statuses), 2, '... the bucket works (10 pass, then 429)';
    my $day = POSIX::strftime('%Y%m%d', gmtime);
    ok ApikeyTest::poll_until(5, sub {
            $redis->cmd('HGET', "apikey:usage:{$doomed->{id}}:$day", 'limited') eq '2' }),
        '... per-key usage is written (HINCRBY, EXPIREAT)';

    is $get->($key), 200, 'a cached check';
    ($status, undef, $err) = as_cli('revoke', $key->{id});
    is $status, 0, 'apikeyctl revoke' or diag $err;
    my $t0 = time;
    my $now = 0;
    while (time - $t0 < 2) { $now = $get->($key); last if $now == 401; sleep 0.05 }
    is $now, 401, '... the invalidation reaches the module through its channel';

    # confirmed invalidation: the worker announces itself and acknowledges,
    # apikeyctl --wait reads both, each under its rule
    (undef, $out) = as_cli('create', '--json', '--name', 'waited', '--scope', 'read');
    my $waited = ApikeyTest::json_of($out) // {};
    is $get->($waited), 200, 'a cached check' for 1 .. 2;
    ($status, $out, $err) = as_cli('revoke', $waited->{id}, '--wait', '5');
    is $status, 0, 'apikeyctl revoke --wait: the worker confirmed, under both rules'
        or diag "$out\n$err\n" . $nginx->error_log;
    like $out, qr/Confirmed by 1 worker of 1 instance/, '... one worker';

    $redis->cmd('SCRIPT', 'FLUSH');
    my ($s, $o) = as_cli('create', '--json', '--name', 'after flush', '--scope', 'read');
    my $fresh = ApikeyTest::json_of($o) // {};
    is $get->($fresh), 200, 'after SCRIPT FLUSH: SCRIPT LOAD again, under the rule';
    my @errors = grep { /\[error\]/ } split /\n/, $nginx->error_log;
    ok !grep(/NOPERM|NOAUTH|WRONGPASS/, @errors), '... and no permission error anywhere'
        or diag join "\n", @errors;
    $nginx->stop;
}

# --- the admin API under the module rule plus the admin commands
{
    my $nginx = ApikeyTest::Nginx->start(
        redis => $redis,
        redis_args => "user=apikey-module-admin password=moduleadminpw tls tls_ca=$certs->{ca}",
        http => 'apikey_cache zone=apikeys:1m ttl=60s;',
        server => "location /admin/ { allow 127.0.0.1; deny all; apikey_admin auth=off; }");
    sleep 0.3;
    my $res = $nginx->request('POST', '/admin/keys', ':body' => '{"name":"over the admin api"}',
                              'Content-Type' => 'application/json');
    is $res->{status}, 201, 'admin API: create under the rule';
    my $made = ApikeyTest::json_of($res->{body}) // {};
    is $nginx->get('/api/x', 'X-API-Key' => $made->{token})->{status}, 200, '... the key works';
    is $nginx->get('/admin/keys')->{status}, 200, 'admin API: list (SCAN) under the rule';
    is $nginx->get("/admin/keys/$made->{id}")->{status}, 200, 'admin API: show';
    is $nginx->get("/admin/keys/$made->{id}/audit")->{status}, 200, 'admin API: audit (XREVRANGE)';
    is $nginx->request('POST', "/admin/keys/$made->{id}/revoke", ':body' => '{}',
                       'Content-Type' => 'application/json')->{status}, 200, 'admin API: revoke';
    is $nginx->request('DELETE', "/admin/keys/$made->{id}", 'Content-Type' => 'application/json')->{status}, 204, 'admin API: delete';
    $res = $nginx->request('POST', '/admin/keys', ':body' => '{"name":"waited"}',
                           'Content-Type' => 'application/json');
    $made = ApikeyTest::json_of($res->{body}) // {};
    $res = $nginx->request('POST', "/admin/keys/$made->{id}/revoke?wait=5s", ':body' => '{}',
                           'Content-Type' => 'application/json');
    is $res->{status}, 200, 'admin API: revoke?wait=5s under the rule' or diag $res->{body};
    is scalar @{ (ApikeyTest::json_of($res->{body}) // {})->{wait}{confirmed} // [] }, 1,
        '... confirmed by the worker';
    my @errors = grep { /NOPERM/ } split /\n/, $nginx->error_log;
    is scalar(@errors), 0, '... and no permission error' or diag join "\n", @errors;
    $nginx->stop;
}

# --- apikey_metrics' key count under the module rule plus its addition
{
    my $nginx = ApikeyTest::Nginx->start(
        redis => $redis,
        redis_args => "user=apikey-module-metrics password=modulemetricspw tls tls_ca=$certs->{ca}",
        location => 'apikey on;',
        server => 'location = /metrics { apikey_metrics; }');
    my $body = ApikeyTest::poll_until(15, sub {
        my $b = $nginx->get('/metrics')->{body};
        $b =~ /^apikey_keys_counted_timestamp_seconds /m ? $b : undef;
    }) // '';
    like $body, qr/^apikey_keys\{status="active"\} [1-9]/m, 'apikey_metrics: the keys are counted (SCAN, HMGET) under the rule';
    like $body, qr/^apikey_key_stats_runs_total\{result="failed"\} 0$/m, '... and no count failed';
    $nginx->stop;
}

# --- the module without its user: AUTH as the default user, which is off
{
    my $nginx = ApikeyTest::Nginx->start(redis => $redis,
                                         redis_args => "password=modulepw tls tls_ca=$certs->{ca}");
    my ($s, $o) = as_cli('create', '--json', '--name', 'no user');
    my $k = ApikeyTest::json_of($o) // {};
    is $nginx->get('/api/x', 'X-API-Key' => $k->{token})->{status}, 503,
        'no user=: AUTH as the default user fails: 503';
    # the refusal of the connection setup is logged when its reply arrives,
    # which may be after the request was answered 503 for want of a connection
    ok poll_until(10, sub { $nginx->error_log =~ /refused the connection setup: WRONGPASS/ }),
        '... and says so';
    unlike $nginx->error_log, qr/modulepw/, '... without the password';
    $nginx->stop;
}

done_testing;
