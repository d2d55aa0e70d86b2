# rotate --grace: the new token works at once, the old one until the grace
# ends, then stops; show displays both meanwhile.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(redis => $redis,
    server => "location = /v1/me { apikey_introspect; }");
my $key = $redis->create_key(name => 'rolling');
my $old = $key->{token};
is $nginx->get('/api/x', 'X-API-Key' => $old)->{status}, 200, 'before the rotation';

# a grace long enough for the checks below on a slow machine; its end is
# then waited for, not slept to
my ($st, $out) = $redis->cli('rotate', $key->{id}, '--grace', '8s', '--json');
is $st, 0, 'rotate --grace 8s';
my $r = json_of($out);
my $new = $r->{token};
is $r->{previous_token}{hint}, substr($old, -4), 'the previous token is shown while the grace runs';
ok $r->{previous_token}{valid_until}, 'with its end';

my $res = $nginx->get('/api/x', 'X-API-Key' => $new);
is $res->{status}, 200, 'the new token works at once';
$res = $nginx->get('/api/x', 'X-API-Key' => $old);
is $res->{status}, 200, 'the old token still works during the grace';
like ApikeyTest::Nginx::header($res, 'X-Api-Key-Expires') // '', qr/GMT$/,
    'and its responses say when it stops (X-Api-Key-Expires)';
ok !defined ApikeyTest::Nginx::header($nginx->get('/api/x', 'X-API-Key' => $new), 'X-Api-Key-Expires'),
    'the new token\'s do not';
my $me = json_of($nginx->get('/v1/me', 'X-API-Key' => $old)->{body});
ok $me->{token_valid_until}, 'introspection tells the old token\'s end';
is $me->{hint}, substr($old, -4), 'and which token it is';

my (undef, $show) = $redis->cli('show', $key->{id});
like $show, qr/\Q...@{[substr($new, -4)]}\E \(new\)/, 'show: the new token';
like $show, qr/\Q...@{[substr($old, -4)]}\E \(previous, works until/, 'show: the previous one and its end';
my (undef, $list) = $redis->cli('list');
like $list, qr/active \(rotating\)/, 'list: rotating';

# both tokens share the key's buckets
my @burst = ($nginx->parallel(6, 'GET', '/api/x', 'X-API-Key' => $old),
             $nginx->parallel(6, 'GET', '/api/x', 'X-API-Key' => $new));
ok scalar(grep { $_->{status} == 429 } @burst) >= 1, 'one bucket for both tokens';

# the grace ends by Redis's clock (prev_until); then the old token stops
my $until = $redis->cmd('HGET', "apikey:key:{$key->{id}}", 'prev_until');
ok poll_until(60, sub { (split /\n/, $redis->cmd('TIME'))[0] > $until }), "Redis's clock passes the grace";
is $nginx->get('/api/x', 'X-API-Key' => $old)->{status}, 401, 'after the grace the old token stops';
is $nginx->get('/api/x', 'X-API-Key' => $new)->{status}, 200, 'the new one goes on';
(undef, $out) = $redis->cli('show', $key->{id}, '--json');
is json_of($out)->{previous_token}, undef, 'show: no previous token any more';

# default: no grace, the old token stops at once
(undef, $out) = $redis->cli('rotate', $key->{id}, '--json');
is $nginx->get('/api/x', 'X-API-Key' => $new)->{status}, 401, 'rotate without --grace: old token stops at once';

$nginx->stop;
done_testing;
