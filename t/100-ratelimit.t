# The default bucket (100r/m burst=10): exact under concurrency, refused
# requests take no token, the standard headers, the variables.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
# the draft-06 fields (apikey_ratelimit_headers legacy); t/115 holds the
# current draft's, the default
my $nginx = ApikeyTest::Nginx->start(redis => $redis,
    http => 'apikey_ratelimit_headers legacy;',
    location => 'apikey on; apikey_scope read GET; apikey_scope write POST;');
my $H = \&ApikeyTest::Nginx::header;

# 20 at once with one key: exactly 10 pass
my $key = $redis->create_key(name => 'burst', scopes => ['read']);
my @res = $nginx->parallel(20, 'GET', '/api/x', 'X-API-Key' => $key->{token});
my @ok = grep { $_->{status} == 200 } @res;
my @limited = grep { $_->{status} == 429 } @res;
is scalar(@ok), 10, 'exactly 10 of 20 concurrent requests pass';
is scalar(@limited), 10, 'the other 10 are 429';
for my $r (@limited) {
    my $ra = $H->($r, 'Retry-After');
    ok defined $ra && $ra =~ /^\d+$/ && $ra >= 1, "Retry-After is a whole number >= 1 ($ra)";
    my $body = json_of($r->{body}) // {};
    is $body->{error}, 'rate_limited', 'error rate_limited';
    is $body->{retry_after}, $ra, 'body carries retry_after';
    is $H->($r, 'RateLimit-Remaining'), 0, 'RateLimit-Remaining: 0 on 429';
}
is $H->($limited[0], 'Content-Type'), 'application/json', '429: Content-Type application/json';
my $body429 = json_of($limited[0]{body});
is ref($body429), 'HASH', '429: the body is a JSON object';
ok length($body429->{message} // ''), '429: with a message';
is_deeply [sort { $a <=> $b } map { $H->($_, 'RateLimit-Remaining') } @ok], [0 .. 9],
    'the passes saw remaining 9 down to 0, once each';

# the headers on a 2xx
my $fresh = $redis->create_key(name => 'fresh', scopes => ['read']);
my $r = $nginx->get('/api/x', 'X-API-Key' => $fresh->{token});
is $r->{status}, 200, 'a pass';
is $H->($r, 'RateLimit-Limit'), 10, 'RateLimit-Limit: the burst';
is $H->($r, 'RateLimit-Remaining'), 9, 'RateLimit-Remaining';
is $H->($r, 'RateLimit-Reset'), 1, 'RateLimit-Reset: seconds until full again';
is $H->($r, 'RateLimit-Policy'), '10;w=6', 'RateLimit-Policy: 10 per 6 s = 100/min';
ok !defined $H->($r, 'Retry-After'), 'no Retry-After on a pass';

# refused requests take no token: a client that keeps knocking while the
# bucket is empty is told the same moment each time, and gets through when the
# next token is due (a key with one token every 5 s; the counts, not the
# clock, make the case, so it holds however slow the server is)
my $knocker = $redis->create_key(name => 'knocker', scopes => ['read'], limits => ['12r/m:1']);
is $nginx->get('/api/x', 'X-API-Key' => $knocker->{token})->{status}, 200, 'the only token taken';
my ($first_at, $first_retry, @knocks);
for (1 .. 5) {
    my $t = time;
    my $r = $nginx->get('/api/x', 'X-API-Key' => $knocker->{token});
    ($first_at, $first_retry) = ($t, $H->($r, 'Retry-After')) unless defined $first_at;
    push @knocks, [$r->{status}, $H->($r, 'Retry-After') // -1];
}
is_deeply [map { $_->[0] } @knocks], [(429) x 5], 'kept knocking while empty: 5 refused';
ok $first_retry >= 1 && $first_retry <= 5, "Retry-After: at most the 5 s to the next token ($first_retry)";
ok !(grep { $knocks[$_][1] > $knocks[$_ - 1][1] } 1 .. $#knocks),
    'each refusal names the same moment, never a later one: refusals took no token'
    or diag explain \@knocks;
my $refused = 0;
my $passed = poll_until($first_retry + 30, sub {
    my $st = $nginx->get('/api/x', 'X-API-Key' => $knocker->{token})->{status};
    $refused++ if $st == 429;
    $st == 200;
});
ok $passed, "passes again once the token is due, despite $refused more refused attempts";
cmp_ok time, '>=', $first_at + $first_retry - 1, '... and not before Retry-After';

# 401 and 403 touch no bucket
my $k3 = $redis->create_key(name => 'scoped', scopes => ['read']);
is $nginx->request('POST', '/api/x', 'X-API-Key' => $k3->{token})->{status}, 403, 'refused for scope' for 1 .. 15;
my @after = $nginx->parallel(10, 'GET', '/api/x', 'X-API-Key' => $k3->{token});
is scalar(grep { $_->{status} == 200 } @after), 10, '15 refusals for scope took no token';
is $redis->cmd('EXISTS', "apikey:bucket:{$k3->{id}}:default"), '1', 'the bucket exists now';
my $k4 = $redis->create_key(name => 'revoked');
$redis->cli('revoke', $k4->{id});
$nginx->get('/api/x', 'X-API-Key' => $k4->{token}) for 1 .. 3;
is $redis->cmd('EXISTS', "apikey:bucket:{$k4->{id}}:default"), '0', 'a revoked key has no bucket';

# variables
my @log = $nginx->access_log_lines(60);
ok((grep { $_->[1] eq 'limited' && $_->[2] eq '429' && $_->[0] eq $key->{id} } @log),
   '$apikey_result limited');
ok((grep { $_->[1] eq 'ok' && $_->[5] eq '9' } @log), '$apikey_rate_remaining');

# bucket state lives in Redis with a TTL, and expires once the bucket is full again
my $ttl = $redis->cmd('PTTL', "apikey:bucket:{$key->{id}}:default");
# (-2: already gone, which only a TTL can do; a slow run, e.g. under ASan,
# may look after the refill; -1, no TTL, fails)
ok $ttl == -2 || ($ttl > 0 && $ttl <= 6000), "bucket state has a TTL of at most one refill ($ttl ms)";
my $k5 = $redis->create_key(name => 'expiring', scopes => ['read']);
$nginx->get('/api/x', 'X-API-Key' => $k5->{token});
my $t5 = $redis->cmd('PTTL', "apikey:bucket:{$k5->{id}}:default");
ok $t5 > 0 && $t5 <= 600, "one token taken: state lives 0.6 s ($t5 ms)";
ok poll_until(10, sub { $redis->cmd('EXISTS', "apikey:bucket:{$k5->{id}}:default") eq '0' }),
    'then it is gone';
is $nginx->get('/api/x', 'X-API-Key' => $k5->{token})->{status}, 200, 'and the bucket is full';

$nginx->stop;
done_testing;
