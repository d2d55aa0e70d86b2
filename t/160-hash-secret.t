# apikey_hash_secret: digests become HMAC-SHA256 with a server-side pepper that
# both the module and apikeyctl read from a file.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(hmac_sha256_hex sha256_hex);
use File::Temp qw(tempdir);
use ApikeyTest;

my $dir = tempdir(CLEANUP => 1);
my $secret = 'pepper-0123456789-abcdefghij';
open my $f, '>', "$dir/secret" or die;
print $f "$secret\n";
close $f;

my $redis = ApikeyTest::Redis->start;
my %env = (APIKEY_REDIS => $redis->address, APIKEY_HASH_SECRET_FILE => "$dir/secret");
my (undef, $out) = ApikeyTest::cli(\%env, 'create', '--name', 'peppered', '--json');
my $key = json_of($out);
my $stored = $redis->cmd('HGET', "apikey:key:{$key->{id}}", 'digest');
is $stored, hmac_sha256_hex($key->{token}, $secret), 'the stored digest is HMAC-SHA256(secret, token)';
isnt $stored, sha256_hex($key->{token}), 'not the plain SHA-256';

my $with = ApikeyTest::Nginx->start(redis => $redis, http => "apikey_hash_secret $dir/secret;");
is $with->get('/api/x', 'X-API-Key' => $key->{token})->{status}, 200, 'module with the same pepper: 200';
unlike $with->error_log, qr/\Q$secret\E/, 'the secret is never logged';
$with->stop;

my $without = ApikeyTest::Nginx->start(redis => $redis);
is $without->get('/api/x', 'X-API-Key' => $key->{token})->{status}, 401,
    'module without the pepper cannot match the digest';
$without->stop;

# the file is read once, at configuration time, and must hold a real secret
open $f, '>', "$dir/short" or die;
print $f "short\n";
close $f;
my ($ok, $msg) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379',
                                              http => "apikey_hash_secret $dir/short;");
ok !$ok, 'a short secret is refused';
like $msg, qr/must be between 16 and 4000 bytes/, 'with a clear message';
unlike $msg, qr/short\b(?!")/, 'without echoing it';
($ok, $msg) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379',
                                           http => "apikey_hash_secret $dir/missing;");
ok !$ok, 'a missing file is refused';
my ($st, undef, $err) = ApikeyTest::cli({ %env, APIKEY_HASH_SECRET_FILE => "$dir/short" }, 'list');
is $st, 1, 'apikeyctl refuses a short secret too';

done_testing;
