# The admin page in a real browser: Debian's Chromium, driven by playwright-core
# (t/browser/admin-page.mjs), creates a key through the page, uses it against
# an `apikey on` location, revokes it through the page and sees it refused;
# gives the page its admin key when it asks (once, kept in memory, after a
# wrong one is refused), creates one with the scope picker and an expiry preset, rotates it with a
# grace and uses both tokens; deletes a key made by apikeyctl (after a Cancel
# that must change nothing).
use strict;
use warnings;
use lib 't/lib';
use File::Compare qw(compare);
use File::Copy qw(copy);
use File::Path qw(make_path);
use JSON::PP;
use Time::HiRes qw(sleep);
use Test::More;
use POSIX ();
use ApikeyTest;

my $CHROMIUM = '/usr/bin/chromium';
plan skip_all => "no $CHROMIUM (scripts/install-deps installs it)" unless -x $CHROMIUM;
my ($node_major) = (`node --version 2>/dev/null` // '') =~ /^v(\d+)\./;
plan skip_all => 'no node' unless $node_major;
plan skip_all => "node $node_major is too old: playwright-core needs 20 or newer" if $node_major < 20;

my $root = root();
my $browser = "$root/build/browser";   # node_modules outside the source tree
my $artifacts = "$root/build/artifacts/admin-page";

# npm ci into build/browser from the committed lock, once: reused while the
# lock is unchanged. playwright-core has no install script and no browser.
sub install_playwright {
    my $installed = "$browser/node_modules/playwright-core/package.json";
    return 1 if -f $installed
             && compare("$root/t/browser/package-lock.json", "$browser/package-lock.json") == 0
             && compare("$root/t/browser/package.json", "$browser/package.json") == 0;
    make_path($browser);
    copy("$root/t/browser/$_", "$browser/$_") or die "copy $_: $!" for qw(package.json package-lock.json);
    local $ENV{PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD} = 1;
    my $out = `npm ci --prefix '$browser' --ignore-scripts --no-audit --no-fund 2>&1`;
    if ($? != 0) {
        diag "npm ci --prefix $browser failed:\n$out";
        unlink "$browser/package-lock.json";   # try again next time
        return 0;
    }
    return -f $installed;
}
if (!ok install_playwright(), 'playwright-core installed in build/browser from t/browser/package-lock.json') {
    done_testing;
    exit;
}

is system('node', "$root/t/browser/openapi-check.mjs", "$root/src/admin/openapi.json"), 0,
    'src/admin/openapi.json: every $ref resolves, every example fits its schema';

my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    # the scope the page's picker must give a key for it to pass here
    location => 'apikey on; apikey_scope read;',
    server => <<'EOF',
        location /admin/ {
            apikey_superscope root;
            apikey_limit 6000r/m burst=600;
            apikey_admin;
        }
EOF
);

my $res = $nginx->get('/admin/keys/openapi.json');
is $res->{status}, 200, 'the module serves the OpenAPI document at keys/openapi.json';
my $served = json_of($res->{body});
my $committed = do { local (@ARGV, $/) = "$root/src/admin/openapi.json"; json_of(<>) };
is_deeply $served, $committed, 'the same document as src/admin/openapi.json';

# the key the page asks for (a superscope of the admin location)
my $root_key = $redis->create_key(name => 'page admin', scopes => ['root']);
# more keys than one page holds (50), older than the rest, for sorting across pages
for my $n (1 .. 55) {
    my $made = $nginx->request('POST', '/admin/keys', 'X-API-Key' => $root_key->{token},
                               'Content-Type' => 'application/json', ':body' => sprintf('{"name":"Filler %02d"}', $n));
    die "filler $n: $made->{status}" unless $made->{status} == 201;
}
sleep 1.1;   # a later creation second: newest first, the keys below are on the first page
# A key made outside the page, for the page to delete. Without the scope it is
# refused at /api/: the scopes picked in the page are what lets keys through.
my $doomed = $redis->create_key(name => 'made by apikeyctl');
is $nginx->get('/api/x', 'X-API-Key' => $doomed->{token})->{status}, 403,
    'a key without the scope "read" is refused at /api/ (403)';

# per-key usage for the page's chart: today 5 ok, 1 forbidden, 2 limited;
# two days ago 3 ok (never used through nginx, so these are all its counts)
my $charted = $redis->create_key(name => 'usage chart');
my @days = map { POSIX::strftime('%Y%m%d', gmtime(time - $_ * 86400)) } 0, 2;
$redis->cmd('HSET', "apikey:usage:{$charted->{id}}:$days[0]", 'ok', 5, 'forbidden', 1, 'limited', 2);
$redis->cmd('HSET', "apikey:usage:{$charted->{id}}:$days[1]", 'ok', 3);

unlink glob "$artifacts/*.png";
{
    local $ENV{NODE_PATH} = "$browser/node_modules";
    local $ENV{CHROMIUM_BIN} = $CHROMIUM;
    local $ENV{APIKEY_USAGE_ID} = $charted->{id};
    # progress lines start with "# ", so they read as TAP comments here
    my $status = system('node', "$root/t/browser/admin-page.mjs", $nginx->url('/admin/'),
                        $nginx->url('/api/x'), $artifacts, $doomed->{id}, $root_key->{token});
    is $status, 0, 'the browser created, used, revoked, rotated, deleted, edited, disabled, enabled, filtered, searched and sorted keys, managed roles and plans, and charted a key\'s usage, through the page'
        or diag "exit status @{[ $status >> 8 ]}, signal @{[ $status & 127 ]}; screenshots, if any, in $artifacts";
}
is $nginx->get('/api/x', 'X-API-Key' => $doomed->{token})->{status}, 401,
    'the key deleted through the page is refused (401)';
is $redis->cmd('EXISTS', "apikey:key:{$doomed->{id}}"), '0', 'and its record is gone from Redis';

# Non-empty and really a PNG: the signature of RFC 2083 section 3.1.
sub png_ok {
    my ($file, $what) = @_;
    my $head = '';
    if (open my $f, '<:raw', $file) { read $f, $head, 8; close $f }
    ok -s $file && $head eq "\x89PNG\r\n\x1a\n", "screenshot of $what: $file";
}
png_ok("$artifacts/list.png", 'the list');
png_ok("$artifacts/reveal.png", 'the reveal dialog');
png_ok("$artifacts/list-phone.png", 'the list at phone width');
png_ok("$artifacts/roles.png", 'the roles tab');
png_ok("$artifacts/plans.png", 'the plans tab');
png_ok("$artifacts/edit.png", 'the edit dialog');
png_ok("$artifacts/usage.png", 'the usage chart');

# The harness checks the tokens apikeyctl minted; this one was minted by the
# page, so look for any token at all in the module's own lines.
my @leaks = grep { /ak_(?:live_|test_)?[0-9a-z]{12}_[0-9A-Za-z]{46}/
                   && !/http (proxy )?header:|http script var: "|client sent duplicate header line/ }
            split /\n(?=\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d )/, $nginx->error_log;
ok !@leaks, 'no token minted through the page in any module line'
    or diag map { (my $l = $_) =~ s/(ak_(?:live_|test_)?[0-9a-z]{12}_)[0-9A-Za-z]{46}/$1.../g; "$l\n" } @leaks[0 .. 0];

$nginx->stop;

done_testing;
