# apikey_leak_report: GitHub's secret scanning partner program posts the
# tokens it found in public; a report signed (ECDSA P-256, SHA-256, over the
# raw body) by a key of the keys file revokes, disables or flags our keys,
# writes an audit event "leaked" with the url, counts them, and is answered
# with the program's feedback body (token_hash, token_type, label).
# Key pairs made here stand in for GitHub's.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use Digest::SHA qw(sha256_hex);
use MIME::Base64 qw(encode_base64);
use JSON::PP;
use ApikeyTest;

my $dir = tempdir(CLEANUP => 1);
sub run { my $out = `@_ 2>&1`; die "failed: @_\n$out" if $?; $out }
sub slurp { open my $f, '<', $_[0] or die "$_[0]: $!"; local $/; <$f> }
sub spit { open my $f, '>', $_[0] or die "$_[0]: $!"; print $f $_[1]; close $f }

# the current key (signs most reports), an older one still listed, and a
# stranger's that is not in the file
for my $k (qw(current old stranger)) {
    run("openssl ecparam -name prime256v1 -genkey -noout -out $dir/$k.key");
    run("openssl ec -in $dir/$k.key -pubout -out $dir/$k.pub");
}
# the shape of https://api.github.com/meta/public_keys/secret_scanning
spit("$dir/keys.json", JSON::PP->new->canonical->encode({ public_keys => [
    { key_identifier => 'kid-old', key => slurp("$dir/old.pub"), is_current => JSON::PP::false },
    { key_identifier => 'kid-current', key => slurp("$dir/current.pub"),
      is_current => JSON::PP::true },
] }));

# base64 of the DER ECDSA signature of SHA-256 over the raw body, as GitHub sends it
sub sign {
    my ($key, $body) = @_;
    spit("$dir/body", $body);
    my $der = `openssl dgst -sha256 -sign $dir/$key.key $dir/body`;
    die "openssl dgst failed" if $?;
    return encode_base64($der, '');
}

my $redis = ApikeyTest::Redis->start;
my %key = map { $_ => $redis->create_key(name => $_) }
          qw(leaked disabled flagged bystander old_signed);

# with a cache whose entries outlive the test: only the report's invalidation
# can make a cached key stop working
my $nginx = ApikeyTest::Nginx->start(redis => $redis,
                                     http => 'apikey_cache zone=apikeys:1m ttl=1h;',
                                     server => <<"CONF");
        location = /leaks {
            apikey_leak_report keys=$dir/keys.json;
        }
        location = /leaks-disable {
            apikey_leak_report keys=$dir/keys.json action=disable;
        }
        location = /leaks-flag {
            apikey_leak_report keys=$dir/keys.json action=flag;
        }
        location = /metrics {
            apikey_metrics;
        }
        location /admin/ {
            allow 127.0.0.1;
            deny all;
            apikey_admin auth=off;
        }
CONF

sub api { $nginx->get('/api/x', Authorization => "Bearer $_[0]{token}")->{status} }
sub report {
    my ($path, $body, %h) = @_;
    my @headers;
    push @headers, 'GITHUB-PUBLIC-KEY-IDENTIFIER', $h{id} if defined $h{id};
    push @headers, 'GITHUB-PUBLIC-KEY-SIGNATURE', $h{sig} if defined $h{sig};
    return $nginx->request('POST', $path, 'Content-Type', 'application/json', @headers,
                           ':body', $body);
}
sub shown { json_of(($redis->cli('show', $_[0]{id}, '--json'))[1]) }
sub status_of { shown($_[0])->{status} }
sub events_of { json_of(($redis->cli('audit', $_[0]{id}, '--json'))[1]) }
sub metric {
    my ($action) = @_;
    my $text = $nginx->get('/metrics')->{body};
    return $text =~ /^apikey_leaked_keys_total\{action="$action"\} (\d+)$/m ? $1 : undef;
}
sub unchanged {
    my ($what) = @_;
    is api($key{$_}), 200, "$what: key $_ still works" for sort keys %key;
    is status_of($key{$_}), 'active', "$what: key $_ still active" for sort keys %key;
    is events_of($key{leaked})->[0]{action}, 'create', "$what: no audit event";
}

ok ApikeyTest::poll_until(30, sub { $redis->subscribers >= 1 }),
    'the worker subscribed to invalidations';

my $url = 'https://github.com/octocat/Hello-World/blob/1234/config/prod.env';
my $body = encode_json([{ token => $key{leaked}{token}, type => 'apikey_token',
                          url => $url, source => 'content' }]);

is api($key{$_}), 200, "key $_ works before" for sort keys %key;
is metric('revoke'), 0, 'metric: present, 0 before any report';

# --- a report that is not GitHub's changes nothing: 401 ---
my $r = report('/leaks', $body);
is $r->{status}, 401, 'no signature headers: 401';
like $r->{body}, qr/"error":"invalid_signature"/, 'a JSON error body';
is report('/leaks', $body, id => 'kid-current')->{status}, 401, 'no signature: 401';
is report('/leaks', $body, sig => sign(current => $body))->{status}, 401, 'no key id: 401';
is report('/leaks', $body, id => 'kid-unknown', sig => sign(current => $body))->{status}, 401,
    'a key id the file does not name: 401';
is report('/leaks', $body, id => 'kid-current', sig => sign(stranger => $body))->{status}, 401,
    'signed by another key: 401';
is report('/leaks', $body, id => 'kid-old', sig => sign(current => $body))->{status}, 401,
    'signed by the current key but naming the old one: 401';
is report('/leaks', $body, id => 'kid-current', sig => 'not base64 !!')->{status}, 401,
    'a signature that is not base64: 401';
my $tampered = $body;
$tampered =~ s/octocat/octodog/;
is report('/leaks', $tampered, id => 'kid-current', sig => sign(current => $body))->{status}, 401,
    'a body changed after signing: 401';
unchanged('after refused reports');
is metric('revoke'), 0, 'metric: nothing counted';

# --- a signed body that is not a report: 400, nothing changes ---
my $bad = '{"token":"x"}';
$r = report('/leaks', $bad, id => 'kid-current', sig => sign(current => $bad));
is $r->{status}, 400, 'a signed body that is not an array: 400';
is $nginx->request('GET', '/leaks')->{status}, 405, 'GET: 405';

# --- a signed report: ours revoked, the others false positives ---
my $made_up = ApikeyTest::with_checksum('ak_live_' . ('z' x 12) . '_' . ('A' x 40));
(my $bad_checksum = $key{bystander}{token}) =~ s/.{6}$/AAAAAA/;
my $other_secret = ApikeyTest::with_checksum(
    substr($key{bystander}{token}, 0, length($key{bystander}{token}) - 46) . ('B' x 40));
my @matches = (
    { token => $key{leaked}{token}, type => 'apikey_token', url => $url, source => 'content' },
    { token => 'ghp_notoursatall0123456789', type => 'apikey_token', url => $url },
    { token => $made_up, type => 'apikey_token', url => $url, source => 'commit' },
    { token => $bad_checksum, type => 'apikey_token', url => $url },
    { token => $other_secret, type => 'apikey_token', url => $url },
);
$body = encode_json(\@matches);
$r = report('/leaks', $body, id => 'kid-current', sig => sign(current => $body));
is $r->{status}, 200, 'a signed report: 200';
is $r->{headers}{'content-type'}[0], 'application/json', 'JSON';
my @labels = qw(true_positive false_positive false_positive false_positive false_positive);
my $expect = '[' . join(',', map {
    '{"token_hash":"' . sha256_hex($matches[$_]{token}) . '","token_type":"apikey_token","label":"'
    . $labels[$_] . '"}' } 0 .. $#matches) . "]\n";
is $r->{body}, $expect, 'the program\'s feedback body, hashed form, byte for byte';
unlike $r->{body}, qr/\Q$key{leaked}{token}\E/, 'the token is not echoed';

my $denied = $nginx->get('/api/x', Authorization => "Bearer $key{leaked}{token}");
is $denied->{status}, 401, 'the leaked key no longer works';
like $denied->{body}, qr/revoked_key/, 'as a revoked key';
is status_of($key{leaked}), 'revoked', 'the leaked key is revoked';
is shown($key{leaked})->{leak_url}, $url, 'its record: leak_url';
is shown($key{bystander})->{leaked_at}, undef, 'no leaked_at on a key no report named';
my $ev = events_of($key{leaked})->[0];
is $ev->{action}, 'leaked', 'audit event "leaked"';
is $ev->{reason}, $url, 'with the url where it was found';
is $ev->{via}, 'leak-report:revoke', 'via the leak report, and what was done';
is $ev->{user}, 'github-secret-scanning', 'by the secret scanning program';
is api($key{bystander}), 200, 'a key whose id a false positive names still works';
is status_of($key{bystander}), 'active', 'and is still active';
is events_of($key{bystander})->[0]{action}, 'create', 'and has no new event';
is metric('revoke'), 1, 'metric: one key revoked';

# the same token again: still ours, still revoked
$r = report('/leaks', $body, id => 'kid-current', sig => sign(current => $body));
is $r->{body}, $expect, 'a repeated report: the same feedback';

# --- signed by the older key of the file; action=disable ---
$body = encode_json([{ token => $key{disabled}{token}, type => 'apikey_token', url => '' }]);
$r = report('/leaks-disable', $body, id => 'kid-old', sig => sign(old => $body));
is $r->{status}, 200, 'a report signed by a listed, not current, key: 200';
like $r->{body}, qr/"label":"true_positive"/, 'true positive';
is status_of($key{disabled}), 'disabled', 'action=disable: disabled';
is api($key{disabled}), 401, 'the disabled key no longer works';
is events_of($key{disabled})->[0]{action}, 'leaked', 'audit event';
is events_of($key{disabled})->[0]{via}, 'leak-report:disable', 'via';
is metric('disable'), 1, 'metric: one key disabled';

# --- action=flag: the key keeps working, its record says it leaked ---
$body = encode_json([{ token => $key{flagged}{token}, type => 'apikey_token', url => $url }]);
$r = report('/leaks-flag', $body, id => 'kid-current', sig => sign(current => $body));
is $r->{status}, 200, 'flag: 200';
is api($key{flagged}), 200, 'action=flag: the key still works';
my $shown = shown($key{flagged});
is $shown->{status}, 'active', 'still active';
like $shown->{leaked_at} // '', qr/^\d{4}-\d\d-\d\dT/, 'apikeyctl show: leaked_at';
is $shown->{leak_url}, $url, 'apikeyctl show: leak_url';
my $via_api = json_of($nginx->get("/admin/keys/$key{flagged}{id}")->{body});
is $via_api->{leak_url}, $url, 'the admin API: leak_url';
is $via_api->{leaked_at}, $shown->{leaked_at}, 'the admin API: leaked_at';
is events_of($key{flagged})->[0]{action}, 'leaked', 'audit event';
is metric('flag'), 1, 'metric: one key flagged';
is metric('revoke'), 2, 'metric: the repeated report counted, other actions not';

# --- a test key (ak_test_), and a rotation's previous token: during its
# grace it is ours, after a rotation without grace it is not ---
my $test_key = json_of(($redis->cli('create', '--name', 'testenv', '--env', 'test', '--json'))[1]);
like $test_key->{token}, qr/^ak_test_/, 'a test key';
my $graced = $redis->create_key(name => 'graced');
my $rotated = $redis->create_key(name => 'rotated');
$redis->cli('rotate', $graced->{id}, '--grace', '1h');
$redis->cli('rotate', $rotated->{id});
@matches = map { { token => $_, type => 'apikey_token', url => $url } }
           $test_key->{token}, $graced->{token}, $rotated->{token};
$body = encode_json(\@matches);
$r = report('/leaks-flag', $body, id => 'kid-current', sig => sign(current => $body));
is_deeply [map { $_->{label} } @{ json_of($r->{body}) }],
    [qw(true_positive true_positive false_positive)],
    'a test key and a previous token in its grace are ours; one past its grace is not';
ok shown($test_key)->{leaked_at}, 'the test key is flagged';
ok shown($graced)->{leaked_at}, 'the rotated key is flagged for its previous token';
is shown($rotated)->{leaked_at}, undef, 'a token no longer valid changes nothing';

# --- README's regular expression for the program finds every format ---
my ($readme_re) = slurp(ApikeyTest::root() . '/README.md') =~ /^    (\\bak_\S+)$/m;
ok $readme_re, 'README gives the regular expression';
my $re = qr/$readme_re/;
my %formats = (live => $key{leaked}{token}, test => $test_key->{token},
               # as minted before environments
               old => ApikeyTest::with_checksum('ak_0pqllhxq5ihp_' . ('C' x 40)));
for my $f (sort keys %formats) {
    ok "in a file: $formats{$f}\n" =~ $re, "README's regex finds a $f token";
    is $&, $formats{$f}, "and all of it ($f)";
}
unlike "ak_live_0pqllhxq5ihp_short", $re, 'not a short one';
unlike "xak_live_0pqllhxq5ihp_" . ('C' x 46), $re, 'not inside a word';

# the exposition stays valid with the new counter
SKIP: {
    skip 'no promtool', 2 unless grep { -x "$_/promtool" } split /:/, $ENV{PATH};
    spit("$dir/metrics.txt", $nginx->get('/metrics')->{body});
    my $lint = `promtool check metrics < $dir/metrics.txt 2>&1`;
    is $?, 0, 'promtool check metrics: valid' or diag $lint;
    unlike $lint, qr/apikey_leaked/, 'and no lint about apikey_leaked_keys_total';
}

# --- a large report (GitHub batches matches): the body is larger than
# client_body_buffer_size, so nginx writes it to a temporary file, and it is
# read back from there ---
my $bulk = $redis->create_key(name => 'bulk');
@matches = map { { token => "ghp_notours$_" . ('x' x 40), type => 'apikey_token',
                   url => "$url#L$_", source => 'content' } } 1 .. 400;
splice @matches, 200, 0, { token => $bulk->{token}, type => 'apikey_token', url => "$url#bulk" };
$body = encode_json(\@matches);
cmp_ok length($body), '>', 64 * 1024, 'a report over 64 KiB';
$r = report('/leaks', $body, id => 'kid-current', sig => sign(current => $body));
is $r->{status}, 200, 'a large report: 200';
my $verdicts = json_of($r->{body}) // [];
is scalar(@$verdicts), 401, 'one verdict per match';
is $verdicts->[200]{label}, 'true_positive', 'ours, in its place';
is scalar(grep { $_->{label} eq 'false_positive' } @$verdicts), 400, 'the others are not';
is status_of($bulk), 'revoked', 'our key in it is revoked';
is events_of($bulk)->[0]{reason}, "$url#bulk", 'with its own url';
like $nginx->error_log, qr/a client request body is buffered to a temporary file/,
    'the body went through a temporary file';

# --- too large: 413 before anything is read ---
my $big = '[' . ('{"token":"x"},' x 80000) . '{"token":"x"}]';
is report('/leaks', $big, id => 'kid-current', sig => 'AAAA')->{status}, 413,
    'a body over 1 MiB: 413';

# --- configuration: the keys file is read by nginx -t ---
my %conf = (redis => $redis);
my ($ok, $out) = ApikeyTest::Nginx->test_conf(%conf,
    server => "location = /l { apikey_leak_report keys=$dir/nowhere.json; }");
ok !$ok, 'nginx -t: a missing keys file fails';
like $out, qr/cannot open keys file ".*nowhere\.json"/, 'with a clear message';
spit("$dir/bad.json", '{"keys":[]}');
($ok, $out) = ApikeyTest::Nginx->test_conf(%conf,
    server => "location = /l { apikey_leak_report keys=$dir/bad.json; }");
ok !$ok, 'nginx -t: a file that is not a public-keys document fails';
like $out, qr/not a secret scanning public-keys document: no "public_keys" array/, 'says why';
spit("$dir/badpem.json", encode_json({ public_keys => [
    { key_identifier => 'k', key => "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
      is_current => JSON::PP::true }] }));
($ok, $out) = ApikeyTest::Nginx->test_conf(%conf,
    server => "location = /l { apikey_leak_report keys=$dir/badpem.json; }");
ok !$ok, 'nginx -t: a key that is not PEM fails';
like $out, qr/the key "k" is not a PEM EC public key/, 'names it';
($ok, $out) = ApikeyTest::Nginx->test_conf(%conf,
    server => "location = /l { apikey_leak_report keys=$dir/keys.json action=burn; }");
ok !$ok, 'nginx -t: an unknown action fails';
like $out, qr/invalid parameter "action=burn"/, 'names it';
($ok, $out) = ApikeyTest::Nginx->test_conf(%conf,
    server => "location = /l { apikey on; apikey_leak_report keys=$dir/keys.json; }");
ok !$ok, 'nginx -t: a report location that checks API keys fails';
like $out, qr/cannot be used with "apikey on"/, 'says so';

# --- reload re-reads the file: the old key dropped, its reports refused ---
spit("$dir/keys.json", JSON::PP->new->encode({ public_keys => [
    { key_identifier => 'kid-current', key => slurp("$dir/current.pub"),
      is_current => JSON::PP::true },
] }));
my @old_workers = $nginx->worker_pids;
$nginx->reload;
ok ApikeyTest::poll_until(20, sub { !grep { !ApikeyTest::gone($_) } @old_workers }),
    'reload: the old workers are gone';
$body = encode_json([{ token => $key{old_signed}{token}, type => 'apikey_token', url => $url }]);
is report('/leaks', $body, id => 'kid-old', sig => sign(old => $body))->{status}, 401,
    'a report of our key signed by the dropped key: 401';
is status_of($key{old_signed}), 'active', 'and changes nothing';
is api($key{old_signed}), 200, 'the key still works';

# --- under README's least-privilege ACL rule: the module's, plus +xadd +publish ---
require ApikeyTls;
my $readme = slurp(ApikeyTest::root() . '/README.md');
ok index($readme, "give\nits user the module's rule plus `+xadd +publish`") >= 0,
    "README's addition for leak reports is the one tested";
my $acl_redis = ApikeyTest::Redis->start(args => ['--user', 'apikey-leaks', 'on', '>leakspw',
    split(' ', $ApikeyTls::MODULE_RULE), '+xadd', '+publish']);
my $acl_key = $acl_redis->create_key(name => 'acl');
my $acl_nginx = ApikeyTest::Nginx->start(redis => $acl_redis,
    redis_args => 'user=apikey-leaks password=leakspw',
    server => "location = /leaks { apikey_leak_report keys=$dir/keys.json; }");
$body = encode_json([{ token => $acl_key->{token}, type => 'apikey_token', url => $url }]);
# (the headers as the program's documentation spells them now: names are case-insensitive)
$r = $acl_nginx->request('POST', '/leaks', 'Github-Public-Key-Identifier', 'kid-current',
                         'Github-Public-Key-Signature', sign(current => $body), ':body', $body);
is $r->{status}, 200, 'a report under the ACL user: 200' or diag $r->{body};
like $r->{body}, qr/"true_positive"/, 'ours';
is json_of(($acl_redis->cli('show', $acl_key->{id}, '--json'))[1])->{status}, 'revoked',
    'revoked under the ACL user';
is json_of(($acl_redis->cli('audit', $acl_key->{id}, '--json'))[1])->[0]{action}, 'leaked',
    'with its audit event';
$acl_nginx->stop;

# a user without them: 503, and the key is untouched
my $poor_redis = ApikeyTest::Redis->start(args => ['--user', 'apikey-leaks', 'on', '>leakspw',
    split(' ', $ApikeyTls::MODULE_RULE)]);
my $poor_key = $poor_redis->create_key(name => 'poor');
my $poor_nginx = ApikeyTest::Nginx->start(redis => $poor_redis,
    redis_args => 'user=apikey-leaks password=leakspw',
    server => "location = /leaks { apikey_leak_report keys=$dir/keys.json; }");
$body = encode_json([{ token => $poor_key->{token}, type => 'apikey_token', url => $url }]);
$r = $poor_nginx->request('POST', '/leaks', 'GITHUB-PUBLIC-KEY-IDENTIFIER', 'kid-current',
                          'GITHUB-PUBLIC-KEY-SIGNATURE', sign(current => $body), ':body', $body);
is $r->{status}, 503, 'a user without +xadd +publish: 503 (GitHub retries)';
like $poor_nginx->error_log, qr/apikey: leak report failed in redis: .*can't run this command/,
    'the error log says why';
is json_of(($poor_redis->cli('show', $poor_key->{id}, '--json'))[1])->{status}, 'active',
    'and the key is untouched';
is json_of(($poor_redis->cli('show', $poor_key->{id}, '--json'))[1])->{leaked_at}, undef,
    'not even flagged';
$poor_nginx->stop;

$nginx->stop;
my $access = $nginx->access_log;
for my $k (sort keys %key) {
    unlike $access, qr/\Q$key{$k}{token}\E/, "access log: no token of $k";
}

done_testing;
