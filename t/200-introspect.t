# apikey_introspect: the calling key's own record, 401 like anywhere else.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    server => <<'EOF',
        location = /v1/me {
            apikey_introspect;
        }
EOF
);
my $key = $redis->create_key(name => 'integration test', scopes => ['read', 'stats'],
                             expires_in => '30d');

$redis->cmd('CONFIG', 'RESETSTAT');
my $res = $nginx->get('/v1/me', 'X-API-Key' => $key->{token});
is $res->{status}, 200, 'a valid key may ask who it is';
like ApikeyTest::Nginx::header($res, 'Content-Type'), qr{^application/json}, 'JSON';
my $me = json_of($res->{body}) // {};
is $me->{id}, $key->{id}, 'id';
is $me->{name}, 'integration test', 'name';
is_deeply $me->{scopes}, ['read', 'stats'], 'scopes';
is $me->{status}, 'active', 'status';
is $me->{hint}, $key->{hint}, 'hint';
is $me->{created_at}, $key->{created_at}, 'created';
is $me->{expires_at}, $key->{expires_at}, 'expires';
like $me->{last_used_at}, qr/^\d{4}-/, 'last used: this very request';
is $me->{rate_limit}{limit}, 10, 'rate-limit state: limit';
is $me->{rate_limit}{remaining}, 9, 'remaining';
is $me->{rate_limit}{policy}, '10;w=6', 'policy';
unlike $res->{body}, qr/\Q$key->{token}\E|digest/, 'never the token or its digest';
is $redis->calls('evalsha'), 1, 'one Redis round trip, no extra lookup';

is $nginx->get('/v1/me')->{status}, 401, 'no key: 401';
is((json_of($nginx->get('/v1/me', 'X-API-Key' => 'nope')->{body}) // {})->{error},
   'malformed_key', 'a bad key: 401 like anywhere else');
$redis->cli('revoke', $key->{id});
is $nginx->get('/v1/me', 'X-API-Key' => $key->{token})->{status}, 401, 'a revoked key: 401';
# a method it does not serve is refused before the key is looked at: no
# Redis call, no token taken from the bucket
my $k2 = $redis->create_key(name => 'poster');
$redis->cmd('CONFIG', 'RESETSTAT');
for my $k ($key, $k2) {
    $res = $nginx->request('POST', '/v1/me', 'X-API-Key' => $k->{token});
    is $res->{status}, 405, 'POST: 405, whatever the key';
    is ApikeyTest::Nginx::header($res, 'Allow'), 'GET, HEAD', 'Allow: GET, HEAD';
    is((json_of($res->{body}) // {})->{error}, 'method_not_allowed', 'in JSON');
}
is $redis->calls('evalsha'), 0, 'and Redis was not asked';
$res = $nginx->get('/v1/me', 'X-API-Key' => $k2->{token});
is((json_of($res->{body}) // {})->{rate_limit}{remaining}, 9, 'the bucket is whole: the 405 took no token');

$nginx->stop;

my ($ok, $out) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379',
    server => 'location = /me { apikey off; apikey_introspect; }');
ok !$ok, 'apikey_introspect with apikey off is refused';
like $out, qr/"apikey_introspect" cannot be used with "apikey off"/, 'with a clear message';

done_testing;
