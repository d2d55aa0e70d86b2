# apikey_cache and a change announced while a check is in flight: the reply was
# computed before the change, and the invalidation that would drop it has come
# and gone before the reply. It must not be stored: the next request asks Redis
# and sees the change (here a revocation), rather than passing on a stale entry
# for the cache's ttl.
use strict;
use warnings;
use lib 't/lib';
use File::Temp qw(tempdir);
use Test::More;
use Time::HiRes qw(sleep time);
use ApikeyTest;
use FakeRedis;

my $dir = tempdir(CLEANUP => 1);
my %file = map { $_ => "$dir/$_" } qw(reply hold publish log);

sub put {
    my ($path, $text) = @_;
    open my $f, '>', $path or die "$path: $!";
    print $f $text;
    close $f;
}

sub wait_until {
    my ($what, $cond) = @_;
    my $t0 = time;
    until ($cond->()) {
        return fail("$what (waited 30 s)") if time - $t0 > 30;
        sleep 0.02;
    }
    pass($what);
}

sub lines_of {
    my ($path) = @_;
    open my $f, '<', $path or return ();
    return map { chomp; $_ } <$f>;
}

my $revoked = "*21\r\n" . FakeRedis::bulk('revoked') . ":NOW_MS\r\n" . FakeRedis::bulk('fake key')
            . FakeRedis::bulk('read') . ":0\r\n" . FakeRedis::bulk('') . ":1700000000\r\n"
            . ":0\r\n" . FakeRedis::bulk('AAAA') . ":0\r\n" . FakeRedis::bulk('')
            . FakeRedis::bulk('') x 6    # owner role plan env meta allow_ip (script v3)
            . FakeRedis::bulk('') . ":-1\r\n:0\r\n:0\r\n";   # quota, credits, quotas (v5)

put($file{reply}, FakeRedis::ok_reply());
put($file{publish}, '');
my $fake = FakeRedis->start(evalsha_file => $file{reply}, hold_file => $file{hold},
                            publish_file => $file{publish}, log_file => $file{log});
my $nginx = ApikeyTest::Nginx->start(
    redis_address => $fake->address,
    http => 'apikey_cache zone=race:1m ttl=60s;',
    location => 'apikey on; apikey_limit off; apikey_redis_timeout 5s;',
);

my $id = 'racerace1234';
my $token = with_checksum("ak_${id}_" . ('R' x 40));
my $evalshas = sub { scalar grep { /^EVALSHA / } lines_of($file{log}) };

wait_until('the worker subscribed', sub { grep { /^SUBSCRIBE / } lines_of($file{log}) })
    or diag "fake Redis saw:\n", join("\n", lines_of($file{log})),
            "\nnginx said:\n", join("\n", grep { /apikey|redis/ && !/\[debug\]/ } split /\n/, $nginx->error_log);
sleep 0.2;   # and read the confirmation: the cache is used from then on

# the check goes out and its reply ("ok", computed now) is held back
put($file{hold}, '');
my $sock = $nginx->send_request('GET', '/api/x', 'X-API-Key' => $token);
wait_until('the check reached Redis', sub { $evalshas->() == 1 });

# meanwhile the key is revoked and the change announced
put($file{reply}, $revoked);
put($file{publish}, "$id\n");
wait_until('the invalidation was sent to the worker',
           sub { grep { $_ eq $id } map { lines_of($_) } glob("$file{publish}.sent.*") });
# and handled by it: its debug line (nginx --with-debug), or a moment
my $t0 = time;
sleep 0.02 until $nginx->error_log =~ /apikey: cache: invalidated key "\Q$id\E"/ || time - $t0 > 1;
note sprintf("invalidation handled after %.2f s", time - $t0);

# then the old reply arrives
unlink $file{hold};
is $nginx->read_response($sock)->{status}, 200, 'the check in flight passes on the old reply';

my $res = $nginx->get('/api/x', 'X-API-Key' => $token);
is $evalshas->(), 2, 'the next request asks Redis: the old reply was not cached';
is $res->{status}, 401, 'and sees the revocation';
like $res->{body}, qr/revoked_key/, 'as revoked';

# without a change in between, replies are cached as before
put($file{reply}, FakeRedis::ok_reply());
my $other = with_checksum('ak_otherkey1234_' . ('S' x 40));
is $nginx->get('/api/x', 'X-API-Key' => $other)->{status}, 200, 'another key: a miss';
is $nginx->get('/api/x', 'X-API-Key' => $other)->{status}, 200, 'then a hit';
is $evalshas->(), 3, 'one round trip for the two';

$nginx->stop;
$fake->stop;
done_testing;
