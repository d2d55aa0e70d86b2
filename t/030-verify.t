# Verification against Redis: every 401 reason, and the CLI's changes seen
# through nginx at once.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(redis => $redis, location => 'apikey on;');

sub call { $nginx->get($_[1] // '/api/x', 'X-API-Key' => $_[0]) }

# $path (optional) names the request, to find its access log line
sub refused {
    my ($token, $code, $what, $path) = @_;
    my $res = call($token, $path);
    is $res->{status}, 401, "$what: 401";
    my $body = json_of($res->{body}) // {};
    is $body->{error}, $code, "$what: error $code";
    ok length($body->{message} // ''), "$what: has a message";
    is ApikeyTest::Nginx::header($res, 'WWW-Authenticate'),
        'Bearer realm="api", error="invalid_token"', "$what: WWW-Authenticate";
    is ApikeyTest::Nginx::header($res, 'Cache-Control'), 'no-store', "$what: not cached";
    unlike $res->{body}, qr/upstream/, "$what: upstream not reached";
    return $res;
}

my $key = $redis->create_key(name => 'verify me');
is call($key->{token})->{status}, 200, 'a fresh key passes';
like call($key->{token})->{body}, qr/^upstream/, 'and reaches the upstream';

# well-formed, good checksum, but unknown: a made-up id, and a known id with a wrong secret
my $unknown_id = 'zzzzzzzzzzzz';
refused(with_checksum("ak_${unknown_id}_" . ('A' x 40)), 'invalid_key', 'unknown id', '/api/unknown-id');
refused(with_checksum("ak_$key->{id}_" . ('B' x 40)), 'invalid_key', 'known id, wrong secret');

# revoke: refused from the next request on
my ($st) = $redis->cli('revoke', $key->{id});
is $st, 0, 'revoked through the CLI';
refused($key->{token}, 'revoked_key', 'revoked');

# rotate: the new token works, the old one stops at once
my $k2 = $redis->create_key(name => 'rotate me');
is call($k2->{token})->{status}, 200, 'before rotation';
my ($s, $out) = $redis->cli('rotate', $k2->{id}, '--json');
my $new = json_of($out)->{token};
is call($new)->{status}, 200, 'new token works at once';
refused($k2->{token}, 'invalid_key', 'old token after rotation');

# delete: unknown from then on
my $k3 = $redis->create_key(name => 'delete me');
is call($k3->{token})->{status}, 200, 'before delete';
$redis->cli('delete', $k3->{id});
refused($k3->{token}, 'invalid_key', 'deleted');

# expired: derived from the expiry, by Redis's clock
my $k4 = $redis->create_key(name => 'short lived', expires_in => '2s');
is call($k4->{token})->{status}, 200, 'before expiry';
my $expires = $redis->cmd('HGET', "apikey:key:{$k4->{id}}", 'expires');
ok poll_until(30, sub { (split /\n/, $redis->cmd('TIME'))[0] > $expires }),
    "Redis's clock passes the expiry";
my $res = refused($k4->{token}, 'expired_key', 'expired', '/api/expired');
like json_of($res->{body})->{message}, qr/expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/,
    'the message says when';

# update --expires-in brings it back
$redis->cli('update', $k4->{id}, '--expires-in', '1h');
is call($k4->{token})->{status}, 200, 'extended key passes again';

# variables in the access log: id only once the secret matched
my @log = $nginx->access_log_lines(13);
my %by_result;
push @{ $by_result{$_->[1]} }, $_ for @log;
is $by_result{ok}[0][0], $key->{id}, '$apikey_id for ok';
is $by_result{ok}[0][3], 'verify me', '$apikey_name for ok';
is $by_result{revoked}[0][0], $key->{id}, '$apikey_id for revoked';
is $by_result{expired}[0][0], $k4->{id}, '$apikey_id for expired';
is scalar(grep { $_->[0] eq '-' } @{ $by_result{invalid} // [] }), 4,
   '$apikey_id is empty for the 4 invalid requests (the id was not proven)';
my %by_uri = map { $_->[6] => $_ } @log;
is_deeply [@{ $by_uri{'/api/unknown-id'} // [] }[0 .. 2]], ['-', 'invalid', '401'],
    'unknown well-formed key: $apikey_result invalid, no $apikey_id, 401';
is_deeply [@{ $by_uri{'/api/expired'} // [] }[0 .. 2]], [$k4->{id}, 'expired', '401'],
    'expired key: $apikey_result expired, with its $apikey_id, 401';

# a key created with a scope the location does not need passes too
my $k5 = $redis->create_key(name => 'scoped', scopes => ['anything']);
is call($k5->{token})->{status}, 200, 'no apikey_scope line: any valid key passes';

# HEAD gets the status and headers without a body
my $head = $nginx->request('HEAD', '/api/x', 'X-API-Key' => 'nope');
is $head->{status}, 401, 'HEAD refused';
is $head->{body}, '', 'HEAD has no body';

# a refused POST with a body keeps the connection usable (body discarded)
my $post = $nginx->request('POST', '/api/x', 'X-API-Key' => 'nope', ':body' => 'x' x 5000);
is $post->{status}, 401, 'POST with a body refused';

$nginx->stop;

# "apikey on" inherits from http and from server level into locations that say
# nothing; "apikey off" in a location turns it off there
my $off_location = <<'EOF';
        location /off/ {
            apikey off;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
EOF
for my $level ('http', 'server') {
    my $inherited = ApikeyTest::Nginx->start(
        redis => $redis,
        $level => "apikey on;\n" . ($level eq 'server' ? $off_location : ''),
        location => '# no apikey directive here',
        ($level eq 'http' ? (server => $off_location) : ()),
    );
    is $inherited->get('/api/x')->{status}, 401, "apikey on at $level level: a location without a key is refused";
    is $inherited->get('/open/x')->{status}, 401, "apikey on at $level level: every location inherits it";
    is $inherited->get('/api/x', 'X-API-Key' => $k4->{token})->{status}, 200,
        "apikey on at $level level: a valid key passes";
    my $res = $inherited->get('/off/x');
    is $res->{status}, 200, "apikey off in a location under $level-level on: passes with no key";
    like $res->{body}, qr/^upstream uri=\[\/off\/x\]/, 'and reaches the upstream';
    $inherited->stop;
}

done_testing;

