# apikey_redis ... tls: the module speaks TLS to a real redis-server started
# with --tls-port only (no plain port), verifies its certificate by default
# (the CA and the address or tls_name), presents a client certificate when
# asked, and answers 503 with one clear error-log line, never a hang, when the
# certificate is not trusted. apikeyctl takes the same through rediss://.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use ApikeyTest;
use ApikeyTls;

my $certs = ApikeyTls::certs();
my $redis = ApikeyTls::Redis->start(certs => $certs);

sub key_status {
    my ($nginx, $key) = @_;
    return $nginx->get('/api/x', 'X-API-Key' => $key->{token})->{status};
}

sub error_lines {
    my ($nginx) = @_;
    return grep { /\[error\]/ } split /\n/, $nginx->error_log;
}

# --- apikeyctl over rediss://, with the CA that signed the server's certificate
my ($status, $out, $err) = $redis->cli('create', '--json', '--name', 'over tls');
is $status, 0, 'apikeyctl create over rediss://' or diag $err;
my $key = ApikeyTest::json_of($out) // {};
like $redis->cmd('HGET', "apikey:key:{$key->{id}}", 'name'), qr/^over tls$/, '... the record is in Redis';

($status, undef, $err) = ApikeyTest::cli($redis->cli_env(APIKEY_TLS_CA => $certs->{other_ca}), 'list');
is $status, 1, 'apikeyctl with a CA that did not sign the certificate: exit 1';
like $err, qr/not trusted \((unable to get local issuer certificate|self-signed certificate in certificate chain)\)/,
    '... saying why';
($status) = ApikeyTest::cli($redis->cli_env(APIKEY_REDIS => $redis->address), 'list');
is $status, 1, 'apikeyctl without TLS against a TLS-only Redis: exit 1';
($status, $out) = ApikeyTest::cli({ APIKEY_REDIS => 'rediss://' . $redis->address },
                                 '--tls-ca', $certs->{ca}, 'list');
is $status, 0, 'apikeyctl --tls-ca on the command line';
like $out, qr/over tls/, '... lists the key';

# --- the module, with the right CA: verified against 127.0.0.1 (an IP SAN)
{
    my $nginx = ApikeyTest::Nginx->start(redis => $redis, redis_args => "tls tls_ca=$certs->{ca}");
    is key_status($nginx, $key), 200, 'tls tls_ca=CA: the key is checked over TLS';
    is key_status($nginx, { token => 'ak_000000000000_' . ('A' x 46) }), 401, '... an unknown key: 401';
    my @lines = error_lines($nginx);
    is scalar(@lines), 0, '... and no error line' or diag join "\n", @lines;
    $nginx->stop;
}

# --- without tls, the TLS-only port is no Redis: 503, not a pass
{
    my $nginx = ApikeyTest::Nginx->start(redis => $redis);
    is key_status($nginx, $key), 503, 'plain TCP to a TLS port: 503';
    $nginx->stop;
}

# --- a CA that did not sign the server's certificate: 503, one clear line
{
    my $nginx = ApikeyTest::Nginx->start(redis => $redis,
                                         redis_args => "tls tls_ca=$certs->{other_ca}");
    my $t0 = time;
    my @statuses = map { key_status($nginx, $key) } 1 .. 3;
    is_deeply \@statuses, [503, 503, 503], 'an untrusted certificate: 503';
    ok time - $t0 < 1, sprintf('... at once, never a hang (%.2f s for 3 requests)', time - $t0);
    my @lines = error_lines($nginx);
    is scalar(@lines), 1, '... and one error line' or diag join "\n", @lines;
    like $lines[0] // '', qr/apikey: cannot connect to redis at "127\.0\.0\.1:\d+": its TLS certificate is not trusted \((unable to get local issuer certificate|self-signed certificate in certificate chain)\)/,
        '... that says why';
    $nginx->stop;
}

# --- tls_verify=off: the same CA mismatch is accepted (the operator's choice)
{
    my $nginx = ApikeyTest::Nginx->start(redis => $redis,
                                         redis_args => "tls tls_ca=$certs->{other_ca} tls_verify=off");
    is key_status($nginx, $key), 200, 'tls_verify=off: no certificate check';
    $nginx->stop;
}

# --- no tls_ca: the system's CAs, which do not include the test CA. The
# handshake looks through the system's CA directory, which took longer than
# the default 200 ms connect timeout once under ASan on a loaded machine
# ("the TLS handshake timed out"): this block gives it 3 s, so that the
# refusal it tests is the certificate's
{
    my $nginx = ApikeyTest::Nginx->start(redis => $redis, redis_args => 'tls',
                                         http => 'apikey_redis_timeout 3s;');
    is key_status($nginx, $key), 503, 'tls without tls_ca: the system CAs do not trust a private CA';
    like $nginx->error_log, qr/its TLS certificate is not trusted/, '... and says so';
    $nginx->stop;
}

# --- the name: a certificate for "localhost" only does not do for 127.0.0.1
{
    my $named = ApikeyTls::Redis->start(certs => $certs, cert => $certs->{dns_only},
                                        key => $certs->{dns_only_key});
    my ($s, $o) = $named->cli('create', '--json', '--name', 'named', '--tls-name', 'localhost');
    is $s, 0, 'apikeyctl --tls-name localhost';
    my $k = ApikeyTest::json_of($o) // {};
    ($s, undef, my $e) = $named->cli('list');
    is $s, 1, 'apikeyctl without --tls-name: the certificate names no IP address';
    like $e, qr/IP address mismatch/, '... saying so';

    my $nginx = ApikeyTest::Nginx->start(redis => $named, redis_args => "tls tls_ca=$certs->{ca}");
    is key_status($nginx, $k), 503, 'a certificate without the IP address connected to: 503';
    like $nginx->error_log, qr/not trusted \(IP address mismatch\)/, '... IP address mismatch';
    $nginx->stop;

    $nginx = ApikeyTest::Nginx->start(redis => $named,
                                      redis_args => "tls tls_ca=$certs->{ca} tls_name=localhost");
    is key_status($nginx, $k), 200, 'tls_name=localhost: the name the certificate carries';
    $nginx->stop;

    $nginx = ApikeyTest::Nginx->start(redis => $named,
                                      redis_args => "tls tls_ca=$certs->{ca} tls_name=elsewhere.example");
    is key_status($nginx, $k), 503, 'tls_name=elsewhere.example: 503';
    like $nginx->error_log, qr/not trusted \(hostname mismatch\)/, '... hostname mismatch';
    $nginx->stop;
    $named->stop;
}

# --- client certificates: redis-server --tls-auth-clients yes
{
    my $strict = ApikeyTls::Redis->start(certs => $certs, auth_clients => 'yes');
    my $k = $strict->create_key(name => 'client cert');
    my ($s) = ApikeyTest::cli($strict->cli_env(APIKEY_TLS_CERT => '', APIKEY_TLS_KEY => ''), 'list');
    is $s, 1, 'apikeyctl without a client certificate: refused';

    my $nginx = ApikeyTest::Nginx->start(redis => $strict, redis_args => "tls tls_ca=$certs->{ca}");
    my $t0 = time;
    is key_status($nginx, $k), 503, 'no client certificate: 503';
    ok time - $t0 < 1, '... at once';
    my @lines = error_lines($nginx);
    is scalar(@lines), 1, '... one error line' or diag join "\n", @lines;
    like $lines[0] // '', qr/apikey: lost the redis connection to "127\.0\.0\.1:\d+": .*before any reply: does the server want a client certificate it trusts \(tls_cert= is not given\)\?/,
        '... that names the likely cause';
    $nginx->stop;

    $nginx = ApikeyTest::Nginx->start(redis => $strict, redis_args =>
        "tls tls_ca=$certs->{ca} tls_cert=$certs->{client} tls_key=$certs->{client_key}");
    is key_status($nginx, $k), 200, 'tls_cert/tls_key: the client certificate is accepted';
    $nginx->stop;

    $nginx = ApikeyTest::Nginx->start(redis => $strict, redis_args =>
        "tls tls_ca=$certs->{ca} tls_cert=$certs->{other_client} tls_key=$certs->{other_client_key}");
    is key_status($nginx, $k), 503, 'a client certificate from another CA: 503';
    like $nginx->error_log, qr/(tls_cert= is not one|certificate)/, '... and the line says so';
    $nginx->stop;
    $strict->stop;
}

# --- a server that accepts but never answers the handshake: the connect
# timeout bounds it
{
    my $listen = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1', LocalPort => 0,
                                       Proto => 'tcp', ReuseAddr => 1) or die;
    my $port = $listen->sockport;
    my $nginx = ApikeyTest::Nginx->start(redis_address => "127.0.0.1:$port",
                                         redis_args => "tls tls_ca=$certs->{ca}",
                                         http => 'apikey_redis_timeout 800ms;');
    my $t0 = time;
    # one worker: while its check waits on the handshake, the worker serves others
    my $pending = $nginx->send_request('GET', '/api/x', 'X-API-Key' => $key->{token});
    sleep 0.1;
    my $t1 = time;
    is $nginx->get('/open/x')->{status}, 200, 'while a handshake hangs, the worker answers others';
    ok time - $t1 < 0.3, sprintf('... at once: the handshake does not block it (%.2f s)', time - $t1);
    is $nginx->read_response($pending, 5)->{status}, 503, 'a silent server: 503';
    my $took = time - $t0;
    ok $took < 1.5, sprintf('... within the timeout, never a hang (%.2f s)', $took);
    sleep 0.2;
    like $nginx->error_log, qr/closing the redis connection to "127\.0\.0\.1:$port": the TLS handshake timed out/,
        '... the handshake timed out';
    $nginx->stop;
}

# --- nginx -t: clear errors
for my $case (
    ["tls_ca=$certs->{ca}", qr/"tls_\*=" parameters of "apikey_redis" need "tls"/, 'tls_ca= without tls'],
    ["tls tls_cert=$certs->{client}", qr/"tls_cert=" and "tls_key=" of "apikey_redis" go together/, 'tls_cert= without tls_key='],
    ["tls tls_ca=/nonexistent/ca.pem", qr/nonexistent\/ca\.pem/, 'a CA file that does not exist'],
    ["tls tls_verify=maybe", qr/"tls_verify=" takes "on" or "off"/, 'tls_verify=maybe'],
    ["tls tls_name=", qr/empty "tls_name="/, 'an empty tls_name='],
    ["user=someone", qr/needs "password="/, 'user= without password='],
) {
    my ($args, $error, $what) = @$case;
    my ($ok, $text) = ApikeyTest::Nginx->test_conf(redis_address => $redis->address,
                                                   redis_args => $args);
    ok !$ok, "nginx -t refuses $what";
    like $text, $error, '... and says why';
}

my ($ok, $text) = ApikeyTest::Nginx->test_conf(redis_address => $redis->address, redis_args =>
    "tls tls_ca=$certs->{ca} tls_cert=$certs->{client} tls_key=$certs->{client_key} tls_name=localhost tls_verify=on");
ok $ok, 'nginx -t accepts every tls parameter' or diag $text;

done_testing;
