# Configuration: what nginx -t accepts and what it refuses, with which message.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use ApikeyTest;

sub conf_ok {
    my ($what, %opt) = @_;
    my ($ok, $out) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379', %opt);
    ok $ok, "accepted: $what" or diag $out;
}

sub conf_refused {
    my ($what, $re, %opt) = @_;
    my ($ok, $out) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379', %opt);
    ok !$ok, "refused: $what";
    like $out, $re, "message for: $what";
    unlike $out, qr/sesame/, "no password echoed: $what" if $what =~ /password/;
}

conf_ok('the minimal configuration', location => 'apikey on;');
conf_ok('everything', location => 'apikey on;', http => <<'EOF');
    apikey_redis_timeout 150ms;
    apikey_superscope admin root;
    apikey_strip_credentials off;
    apikey_log_level warn;
    apikey_last_used_interval 5m;
    apikey_limit 100r/m burst=10;
    apikey_limit 10000r/d;
    apikey_limit 5r/m bucket=export;
    apikey_scope read GET HEAD;
EOF
conf_ok('unix socket and parameters', apikey_redis => 'apikey_redis unix:/run/redis.sock db=2 password=sesame prefix=tenant1:;',
        location => 'apikey on;');
conf_ok('apikey off needs no Redis', apikey_redis => '', location => 'apikey off;');
conf_ok('apikey_limit off', location => 'apikey on; apikey_limit off;');

conf_refused('apikey on without apikey_redis', qr/"apikey" is on but no "apikey_redis"/,
             apikey_redis => '', location => 'apikey on;');
conf_refused('apikey_redis twice', qr/is duplicate/,
             http => 'apikey_redis 127.0.0.1:6380;');
conf_refused('apikey_redis in a location', qr/"apikey_redis" directive is not allowed here/,
             location => 'apikey_redis 127.0.0.1:6379;');
conf_refused('bad password parameter', qr/invalid parameter 2 of "apikey_redis"/,
             apikey_redis => 'apikey_redis 127.0.0.1:6379 pasword=sesame;');
conf_refused('bad db', qr/invalid db "db=x"/, apikey_redis => 'apikey_redis 127.0.0.1:6379 db=x;');
conf_refused('bad prefix', qr/invalid prefix/, apikey_redis => q{apikey_redis 127.0.0.1:6379 'prefix=a b';});
conf_refused('bad address', qr/invalid redis address/, apikey_redis => 'apikey_redis 127.0.0.1:notaport;');
conf_refused('unresolvable host', qr/invalid redis address/,
             apikey_redis => 'apikey_redis no-such-host.invalid:6379;');
conf_refused('apikey maybe', qr/invalid value "maybe"/, location => 'apikey maybe;');
conf_refused('bad timeout', qr/invalid value/, location => 'apikey on; apikey_redis_timeout soon;');
conf_refused('zero timeout', qr/must not be 0/, location => 'apikey on; apikey_redis_timeout 0;');
conf_refused('bad rate', qr/invalid rate "100r\/w"/, location => 'apikey on; apikey_limit 100r/w;');
conf_refused('bad burst', qr/invalid burst value "burst=0"/, location => 'apikey on; apikey_limit 1r/s burst=0;');
conf_refused('bad bucket', qr/invalid bucket name/, location => 'apikey on; apikey_limit 1r/s bucket=a:b;');
conf_refused('unknown limit parameter', qr/invalid parameter "nodelay"/,
             location => 'apikey on; apikey_limit 1r/s nodelay;');
conf_refused('duplicate limit', qr/is duplicate/,
             location => 'apikey on; apikey_limit 1r/s; apikey_limit 1r/s;');
conf_refused('off with rates', qr/cannot be combined with "apikey_limit off"/,
             location => 'apikey on; apikey_limit off; apikey_limit 1r/s;');
conf_refused('too fast', qr/faster than one request per microsecond/,
             location => 'apikey on; apikey_limit 2000000r/s;');
conf_refused('too many buckets', qr/too many "apikey_limit" lines/,
             location => 'apikey on; ' . join(' ', map { "apikey_limit ${_}r/s bucket=b$_;" } 1 .. 17));
conf_refused('bad quota', qr/invalid quota "100\/year"/,
             location => 'apikey on; apikey_quota 100/year;');
conf_refused('zero quota', qr/invalid quota "0\/day"/, location => 'apikey on; apikey_quota 0/day;');
conf_refused('bad quota per', qr/invalid per "per=team" \(expected key or owner\)/,
             location => 'apikey on; apikey_quota 100/day per=team;');
conf_refused('bad quota bucket', qr/invalid bucket name "bucket=a:b"/,
             location => 'apikey on; apikey_quota 100/day bucket=a:b;');
conf_refused('unknown quota parameter', qr/invalid parameter "burst=2"/,
             location => 'apikey on; apikey_quota 100/day burst=2;');
conf_refused('two quotas of one period', qr/bucket "default" has a "day" quota already/,
             location => 'apikey on; apikey_quota 100/day; apikey_quota 50/day;');
conf_refused('mixed per in one bucket', qr/must all say the same "per="/,
             location => 'apikey on; apikey_quota 100/day; apikey_quota 900/month per=owner;');
conf_refused('bad cost', qr/"apikey_cost" directive invalid number/,
             location => 'apikey on; apikey_cost -1;');
conf_refused('too many quotas', qr/at most 5 "apikey_quota" lines apply to a location/,
             location => 'apikey on; ' . join(' ', map { "apikey_quota 9/day bucket=q$_;" } 1 .. 6));
conf_refused('bad log level', qr/invalid value "debug"/, location => 'apikey on; apikey_log_level debug;');

# apikey_redis's address forms and parameters, against a real Redis: each one
# decides where the module looks, so a key stored elsewhere is not found
my $redis = ApikeyTest::Redis->start(unix => 1);
sub get_with { $_[0]->get('/api/x', 'X-API-Key' => $_[1]{token}) }

{
    my $nginx = ApikeyTest::Nginx->start(
        apikey_redis => 'apikey_redis unix:' . $redis->unix_socket . ';', location => 'apikey on;');
    my $key = $redis->create_key(name => 'over the socket');
    is get_with($nginx, $key)->{status}, 200, 'unix:/path: a key is found over the socket';
    my $bad = with_checksum("ak_$key->{id}_" . ('C' x 40));
    is $nginx->get('/api/x', 'X-API-Key' => $bad)->{status}, 401, 'unix:/path: a wrong secret is 401';
    like $redis->cmd('CLIENT', 'LIST'), qr/addr=\Q${\ $redis->unix_socket }\E/,
        'unix:/path: nginx is connected through the socket';
    $nginx->stop;
}

sub create_in {
    my (@where) = @_;
    my ($status, $out, $err) = $redis->cli(@where, 'create', '--json', '--name', "in @where");
    die "apikeyctl create failed ($status): $err" if $status != 0;
    return json_of($out);
}

{
    my $nginx = ApikeyTest::Nginx->start(redis => $redis, redis_args => 'db=3', location => 'apikey on;');
    my $in_db3 = create_in('--db', '3');
    is $redis->cmd('-n', '3', 'EXISTS', "apikey:key:{$in_db3->{id}}"), '1', 'sanity: apikeyctl --db 3 wrote db 3';
    is get_with($nginx, $in_db3)->{status}, 200, 'db=3: a key in db 3 is found';
    my $in_db0 = $redis->create_key(name => 'in db 0');
    is get_with($nginx, $in_db0)->{status}, 401, 'db=3: a key only in db 0 is not';
    $nginx->stop;
}

{
    my $nginx = ApikeyTest::Nginx->start(redis => $redis, redis_args => 'prefix=shop:', location => 'apikey on;');
    my $shop = create_in('--prefix', 'shop:');
    is $redis->cmd('EXISTS', "shop:key:{$shop->{id}}"), '1', 'sanity: apikeyctl --prefix shop: wrote shop:key:...';
    my $res = get_with($nginx, $shop);
    is $res->{status}, 200, 'prefix=shop:: a key under shop: is found';
    is $redis->cmd('EXISTS', "shop:bucket:{$shop->{id}}:default"), '1', 'prefix=shop:: its bucket is under shop: too';
    my $default = $redis->create_key(name => 'default prefix');
    is get_with($nginx, $default)->{status}, 401, 'prefix=shop:: a key under apikey: is not';
    $nginx->stop;
}

done_testing;
