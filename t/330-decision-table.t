# One decision, two paths: every case of this table is run through a request
# without apikey_cache, with it on a miss, and with it on a hit, and must give
# the same status, the same $apikey_result and the same writes to Redis
# (last_used, the rate-limit bucket). The cache's hits judge time by Redis's
# clock, as the script does.
use strict;
use warnings;
use lib 't/lib';
use File::Temp qw(tempdir);
use Test::More;
use Time::HiRes qw(sleep);
use ApikeyTest;
use FakeRedis;

my $redis = ApikeyTest::Redis->start;
my $dir = tempdir(CLEANUP => 1);

# apikey_env live: records without env (all but the test key's) are live
my $location = 'apikey on; apikey_scope read; apikey_superscope admin; apikey_accept_imported on;'
             . ' apikey_env live;'
             . ' apikey_last_used_interval 1s; add_header X-Result $apikey_result always;'
             # a bucket with one token taken lives 6 minutes (the default's
             # 600 ms could expire before a loaded machine looks at it)
             . ' apikey_limit 10r/h burst=10;';
my $plain = ApikeyTest::Nginx->start(redis => $redis, location => $location);
my $cached = ApikeyTest::Nginx->start(
    redis => $redis, location => $location,
    http => 'apikey_cache zone=table:1m ttl=60s;',
    # fills the cache and writes nothing: no last use, no limits
    server => <<'EOF');
        location /prime/ {
            apikey on;
            apikey_accept_imported on;
            apikey_last_used_interval 0;
            apikey_limit off;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
EOF
sleep 0.5;   # the worker subscribes: until then there is no cache

sub record { "apikey:key:{$_[0]}" }

sub create {
    my (%o) = @_;
    my $k = $redis->create_key(name => 'table', %o);
    return ($k->{token}, $k->{id});
}

sub rotated {
    my ($until) = @_;
    my ($token, $id) = create(scopes => ['read']);
    my ($st) = $redis->cli('rotate', $id, '--grace', '1h', '--json');
    die 'rotate failed' if $st;
    $redis->cmd('HSET', record($id), 'prev_until', $until) if defined $until;
    return ($token, $id);
}

my $imported = 0;
sub import_key {
    my $legacy = sprintf 'sk_live_table%05d%s', $imported++, 'x' x 20;
    open my $f, '>', "$dir/token" or die;
    print $f "$legacy\n";
    close $f;
    my ($st, $out) = $redis->cli('import', '--name', 'table', '--token-file', "$dir/token",
                                 '--scope', 'read', '--json');
    die 'import failed' if $st;
    return ($legacy, json_of($out)->{id});
}

my $now = time;
my $unknown = 0;

# name => [make the key (token, id), a step before the request, then the
# status, $apikey_result, whether last_used is written, whether a token is taken]
my @table = (
    ['active', sub { create(scopes => ['read']) }, undef, 200, 'ok', 1, 1],
    ['revoked', sub {
         my ($t, $id) = create(scopes => ['read']);
         $redis->cli('revoke', $id);
         ($t, $id) }, undef, 401, 'revoked', 0, 0],
    ['expired', sub {
         my ($t, $id) = create(scopes => ['read']);
         $redis->cmd('HSET', record($id), 'expires', $now - 10);
         ($t, $id) }, undef, 401, 'expired', 0, 0],
    ['expiring later', sub {
         my ($t, $id) = create(scopes => ['read']);
         $redis->cmd('HSET', record($id), 'expires', $now + 3600);
         ($t, $id) }, undef, 200, 'ok', 1, 1],
    ['missing scope', sub { create(scopes => ['write']) }, undef, 403, 'forbidden', 1, 0],
    ['superscope', sub { create(scopes => ['admin']) }, undef, 200, 'ok', 1, 1],
    ['previous token in its grace', sub { rotated() }, undef, 200, 'ok', 1, 1],
    ['previous token after its grace', sub { rotated($now - 1) }, undef, 401, 'invalid', 0, 0],
    ['imported', \&import_key, undef, 200, 'ok', 1, 1],
    ['over its limit', sub { create(scopes => ['read'], limits => ['1r/h:1']) },
     sub { $plain->get('/api/x', 'X-API-Key' => $_[0])->{status} == 200 or die 'drain' },
     429, 'limited', 1, 0],
    ['unknown', sub {
         my $id = sprintf 'unknown%05d', $unknown++;
         (with_checksum("ak_${id}_" . ('U' x 40)), $id) }, undef, 401, 'invalid', 0, 0],
);

# Issue 14: the key model, written as apikeyctl writes a v2 record's fields.
sub with_fields {
    my ($scopes, %fields) = @_;
    my ($t, $id) = create(scopes => $scopes);
    $redis->cmd('HSET', record($id), %fields);
    return ($t, $id);
}
push @table, (
    ['disabled', sub { with_fields(['read'], status => 'disabled') }, undef,
     401, 'disabled', 0, 0],
    ['disabled and expired', sub { with_fields(['read'], status => 'disabled',
                                                expires => $now - 10) }, undef,
     401, 'disabled', 0, 0],
    ['scope from its role', sub { with_fields(['other'], role => 'reader',
                                               role_scopes => 'read') }, undef,
     200, 'ok', 1, 1],
    ['role without the scope', sub { with_fields(['other'], role => 'writer',
                                                  role_scopes => 'write') }, undef,
     403, 'forbidden', 1, 0],
    ['test key where live is required', sub { with_fields(['read'], env => 'test') }, undef,
     403, 'wrong_environment', 0, 0],
    ['live key, said so', sub { with_fields(['read'], env => 'live') }, undef,
     200, 'ok', 1, 1],
    ['address outside its allowlist', sub { with_fields(['read'],
                                                         allow_ip => '203.0.113.0/24 2001:db8::/32') },
     undef, 403, 'ip_not_allowed', 0, 0],
    ['address inside its allowlist', sub { with_fields(['read'],
                                                        allow_ip => '203.0.113.0/24 127.0.0.0/8') },
     undef, 200, 'ok', 1, 1],
    ['allowlist and missing scope', sub { with_fields(['write'], allow_ip => '203.0.113.0/24') },
     undef, 403, 'ip_not_allowed', 0, 0],
    ['over its plan\'s limit', sub { with_fields(['read'], plan => 'tiny',
                                                  plan_limits => '1r/h:1') },
     sub { $plain->get('/api/x', 'X-API-Key' => $_[0])->{status} == 200 or die 'drain' },
     429, 'limited', 1, 0],
);

sub state_of {
    my ($id) = @_;
    my @buckets = sort grep { length } split /\n/, $redis->cmd('KEYS', "apikey:bucket:{$id}:*");
    return ($redis->cmd('HGET', record($id), 'last_used'),
            join ' ', map { "$_=" . $redis->cmd('GET', $_) } @buckets);
}

for my $case (@table) {
    my ($name, $make, $pre, @want) = @$case;
    my %seen;
    for my $path ('no cache', 'cache miss', 'cache hit') {
        my $nginx = $path eq 'no cache' ? $plain : $cached;
        my ($token, $id) = $make->();
        if ($path eq 'cache hit') {
            $cached->get('/prime/x', 'X-API-Key' => $token);
        }
        $pre->($token) if $pre;
        # a last use long ago: this request's write, if any, shows
        $redis->cmd('HSET', record($id), 'last_used', 1000)
            if $redis->cmd('EXISTS', record($id)) eq '1';
        my ($used_before, $buckets_before) = state_of($id);

        $redis->cmd('CONFIG', 'RESETSTAT');
        my $res = $nginx->get('/api/x', 'X-API-Key' => $token);
        my $reads = $redis->calls('hmget');
        # the hit's last-used write is not waited for
        my ($used_after, $buckets_after);
        for (1 .. 50) {
            ($used_after, $buckets_after) = state_of($id);
            last if !$want[2] || $used_after ne $used_before;
            sleep 0.02;
        }

        my @got = ($res->{status}, ApikeyTest::Nginx::header($res, 'X-Result') // '',
                   $used_after ne $used_before ? 1 : 0,
                   $buckets_after ne $buckets_before ? 1 : 0);
        is_deeply \@got, \@want, "$name, $path: [status, result, last_used written, token taken]";
        is $reads, $path eq 'cache hit' ? 0 : 1,
            "$name, $path: sanity: the record was " . ($path eq 'cache hit' ? 'cached' : 'read');
    }
}

$_->stop for $plain, $cached;

# The clock: Redis's is an hour behind the worker's, and the key expires half
# an hour ago by the worker's clock, in half an hour by Redis's. The script
# said "ok"; a hit must say the same.
{
    my $fake = FakeRedis->start(evalsha => FakeRedis::ok_reply(expires => time - 1800,
                                                               now => 'NOW_MS-3600000'));
    my $nginx = ApikeyTest::Nginx->start(
        redis_address => $fake->address, http => 'apikey_cache zone=clock:1m;',
        location => 'apikey on; apikey_limit off; add_header X-Result $apikey_result always;');
    sleep 0.5;   # subscribed
    my $token = with_checksum('ak_clockclock12_' . ('C' x 40));
    my $res = $nginx->get('/api/x', 'X-API-Key' => $token);
    is $res->{status}, 200, 'Redis, its clock behind: not expired yet';
    $res = $nginx->get('/api/x', 'X-API-Key' => $token);
    is $res->{status}, 200, 'a cache hit judges by the same clock';
    is ApikeyTest::Nginx::header($res, 'X-Result'), 'ok', 'and says ok';
    $nginx->stop;
    $fake->stop;
}

done_testing;
