# Where the key is read from, and what is not a key: each answered without Redis
# when it is obviously bad.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
# buffers large enough for 1000 header lines (nginx's default refuses them itself with 400)
my $nginx = ApikeyTest::Nginx->start(redis => $redis, location => 'apikey on;',
                                     http => 'large_client_header_buffers 4 64k;');
my $key = $redis->create_key(name => 'reader');
my $other = $redis->create_key(name => 'other');
my $T = $key->{token};

sub status_of { $nginx->get('/api/x', @_)->{status} }

# the three header forms
is status_of('X-API-Key' => $T), 200, 'X-API-Key';
is status_of('X-Api-Token' => $T), 200, 'X-Api-Token';
is status_of('Authorization' => "Bearer $T"), 200, 'Authorization: Bearer';
is status_of('x-api-key' => $T), 200, 'header names are case-insensitive';
is status_of('Authorization' => "bearer $T"), 200, 'Bearer scheme is case-insensitive';
is status_of('Authorization' => "BEARER $T"), 200, 'BEARER';
is status_of('Authorization' => "Bearer   $T  "), 200, 'spaces around the token are trimmed';
is status_of('Authorization' => "Bearer\t$T"), 200, 'tab after Bearer';
is status_of('X-API-Key' => " $T "), 200, 'X-API-Key value trimmed';
is status_of('X-API-Key' => $T, 'Authorization' => "Bearer $T"), 200,
    'the same key in two headers is accepted';

# what is not a key, or not one key: 401 with a JSON body and the documented code
$redis->cmd('CONFIG', 'RESETSTAT');
my @cases = (
    ['no credential',                  [],                                         'missing_key'],
    ['Basic is not a key',             ['Authorization' => "Basic $T"],            'missing_key'],
    ['Bearer with nothing after it',   ['Authorization' => 'Bearer'],              'missing_key'],
    ['Bearer and spaces',              ['Authorization' => 'Bearer   '],           'missing_key'],
    ['empty X-API-Key',                ['X-API-Key' => ''],                        'missing_key'],
    ['one byte',                       ['X-API-Key' => 'a'],                       'malformed_key'],
    ['embedded space',                 ['X-API-Key' => "ak_ab cd"],                'malformed_key'],
    ['control byte',                   ['X-API-Key' => "ak_\x01abc"],              'malformed_key'],
    ['non-ASCII',                      ['X-API-Key' => "ak_caf\xc3\xa9"],          'malformed_key'],
    ['quote',                          ['X-API-Key' => 'ak_"x"'],                  'malformed_key'],
    ['absurd length',                  ['X-API-Key' => 'a' x 600],                 'malformed_key'],
    ['checksum typo (last char)',      ['X-API-Key' => typo($T, -1)],              'malformed_key'],
    ['checksum typo (first secret char)', ['X-API-Key' => typo($T, 16)],           'malformed_key'],
    ['truncated',                      ['X-API-Key' => substr($T, 0, -1)],         'malformed_key'],
    ['another format',                 ['X-API-Key' => 'sk_live_0123456789abcdef'], 'malformed_key'],
    ['two different keys',             ['X-API-Key' => $T, 'X-Api-Token' => $other->{token}],
                                                                                    'ambiguous_key'],
    ['X-API-Key repeated (same value)', ['X-API-Key' => $T, 'X-API-Key' => $T],    'ambiguous_key'],
    ['key and a different bearer',     ['X-API-Key' => $T, 'Authorization' => "Bearer $other->{token}"],
                                                                                    'ambiguous_key'],
    ['990 repeated headers',           [map { ('X-API-Key' => 'k1') } 1 .. 990],   'ambiguous_key'],
);
for my $c (@cases) {
    my ($what, $headers, $code) = @$c;
    my $res = $nginx->get('/api/x', @$headers);
    is $res->{status}, 401, "$what: 401";
    is((json_of($res->{body}) // {})->{error}, $code, "$what: $code");
    like ApikeyTest::Nginx::header($res, 'Content-Type'), qr{^application/json}, "$what: JSON";
    # RFC 6750 section 3.1: no error code for a request that sent no credential
    my $challenge = $code eq 'missing_key' ? 'Bearer realm="api"'
                                           : 'Bearer realm="api", error="invalid_token"';
    is ApikeyTest::Nginx::header($res, 'WWW-Authenticate'), $challenge,
        "$what: WWW-Authenticate";
    is ApikeyTest::Nginx::header($res, 'Cache-Control'), 'no-store', "$what: not cached";
}
is $redis->calls('evalsha'), 0, 'none of them reached Redis';

# 1000 header lines with default buffers: Debian's nginx refuses more than 1000
# lines itself, with 400, before any module runs. Stock nginx (nginx.org's
# sources, make test-matrix) has no such limit: 1000 short lines usually fit
# its default large_client_header_buffers (4 x 8k), and the module answers
# ambiguous_key; when they do not, nginx's own 400 comes first.
{
    my $plain = ApikeyTest::Nginx->start(redis => $redis, location => 'apikey on;');
    my $res = $plain->get('/api/x', map { ('X-API-Key' => 'k1') } 1 .. 1000);
    if (($ENV{NGINX_BIN} // '/usr/sbin/nginx') eq '/usr/sbin/nginx') {
        is $res->{status}, 400, '1000 credential header lines: 400 from Debian\'s nginx';
    } elsif ($res->{status} == 400) {
        unlike $res->{body}, qr/"error"/, '1000 credential header lines: 400 from stock nginx itself';
    } else {
        is $res->{status}, 401, '1000 credential header lines: 401 from the module (stock nginx)';
        is((json_of($res->{body}) // {})->{error}, 'ambiguous_key', '... ambiguous_key');
    }
    $plain->stop;
}

# a repeated Authorization header is refused by nginx itself, before any module
is status_of('Authorization' => "Bearer $T", 'Authorization' => "Bearer $T"), 400,
    'duplicate Authorization: 400 from nginx';

# the check happens once per request and once only
$redis->cmd('CONFIG', 'RESETSTAT');
status_of('X-API-Key' => $T) for 1 .. 3;
is $redis->calls('evalsha'), 3, 'one Redis call per request';

my @log = $nginx->access_log_lines(3);
ok((grep { $_->[1] eq 'missing' } @log), '$apikey_result missing');
ok((grep { $_->[1] eq 'malformed' } @log), '$apikey_result malformed');

$nginx->stop;
done_testing;

sub typo {
    my ($t, $i) = @_;
    my $c = substr($t, $i, 1);
    substr($t, $i, 1) = $c eq 'A' ? 'B' : 'A';
    return $t;
}
