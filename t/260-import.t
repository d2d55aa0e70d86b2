# apikeyctl import: a legacy system's token (no prefix, no checksum) keeps
# working, stored only as a digest; the module accepts it where
# apikey_accept_imported is on.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use ApikeyTest;

my $dir = tempdir(CLEANUP => 1);
my $legacy = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc';
open my $f, '>', "$dir/token" or die;
print $f "$legacy\n";
close $f;

my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(redis => $redis,
    location => 'apikey on; apikey_accept_imported on;',
    server => <<'EOF');
        location /strict/ {
            apikey on;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
EOF

my ($st, $out) = $redis->cli('import', '--name', 'legacy billing', '--token-file', "$dir/token",
                             '--scope', 'read', '--reason', 'migration', '--json');
is $st, 0, 'import exits 0';
my $k = json_of($out);
like $k->{id}, qr/^[0-9a-z]{12}$/, 'an id (derived from the token)';
ok !exists $k->{token}, 'the token is not echoed';
is $k->{imported}, JSON::PP::true, 'marked imported';
is $redis->cmd('HGET', "apikey:key:{$k->{id}}", 'digest'), sha256_hex($legacy), 'only its digest is stored';

my $res = $nginx->get('/api/x', 'X-API-Key' => $legacy);
is $res->{status}, 200, 'the legacy token works where imports are accepted';
unlike $res->{body}, qr/\Q$legacy\E/, 'and is stripped like any key';
is $nginx->get('/api/x', 'Authorization' => "Bearer $legacy")->{status}, 200, 'in any header';
my @log = $nginx->access_log_lines(2);
is $log[0][0], $k->{id}, '$apikey_id is the derived id';

$redis->cmd('CONFIG', 'RESETSTAT');
is $nginx->get('/strict/x', 'X-API-Key' => $legacy)->{status}, 401,
    'where apikey_accept_imported is off, foreign tokens are malformed';
is $redis->calls('evalsha'), 0, 'without a Redis call';
is $nginx->get('/api/x', 'X-API-Key' => 'short-legacy')->{status}, 401, 'too short to be imported: 401';
is $redis->calls('evalsha'), 0, 'without a Redis call either';
is $nginx->get('/api/x', 'X-API-Key' => 'sk_live_notimportedXXXXXXXXXXXX')->{status}, 401,
    'a foreign token that was never imported: 401 (after one lookup)';

# the CLI refuses what cannot work
($st) = $redis->cli('import', '--name', 'again', '--token-file', "$dir/token");
is $st, 1, 'importing the same token twice is refused';
open $f, '>', "$dir/bad" or die; print $f "has spaces in it, no\n"; close $f;
($st) = $redis->cli('import', '--name', 'bad', '--token-file', "$dir/bad");
is $st, 2, 'a token with spaces is refused';
open $f, '>', "$dir/ours" or die; print $f "ak_abcdefghijkl_xxxxxxxxxxxxxxxx\n"; close $f;
($st) = $redis->cli('import', '--name', 'ours', '--token-file', "$dir/ours");
is $st, 2, 'tokens with this project\'s prefix are not imported';

# revoking an imported key works like any other
$redis->cli('revoke', $k->{id});
is((json_of($nginx->get('/api/x', 'X-API-Key' => $legacy)->{body}) // {})->{error}, 'revoked_key',
   'revoked imported key: revoked_key');

$nginx->stop;
done_testing;
