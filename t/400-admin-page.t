# The admin page in a real browser: Debian's Chromium, driven by playwright-core
# (t/browser/admin-page.mjs), creates a key through the page, uses it against
# an `apikey on` location, revokes it through the page and sees it refused.
use strict;
use warnings;
use lib 't/lib';
use File::Compare qw(compare);
use File::Copy qw(copy);
use File::Path qw(make_path);
use JSON::PP;
use Test::More;
use ApikeyTest;

my $CHROMIUM = '/usr/bin/chromium';
plan skip_all => "no $CHROMIUM (scripts/install-deps check installs it)" unless -x $CHROMIUM;
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
    server => <<'EOF',
        location /admin/ {
            apikey_admin;
        }
EOF
);

my $res = $nginx->get('/admin/keys/openapi.json');
is $res->{status}, 200, 'the module serves the OpenAPI document at keys/openapi.json';
my $served = json_of($res->{body});
my $committed = do { local (@ARGV, $/) = "$root/src/admin/openapi.json"; json_of(<>) };
is_deeply $served, $committed, 'the same document as src/admin/openapi.json';

unlink glob "$artifacts/*.png";
{
    local $ENV{NODE_PATH} = "$browser/node_modules";
    local $ENV{CHROMIUM_BIN} = $CHROMIUM;
    # progress lines start with "# ", so they read as TAP comments here
    my $status = system('node', "$root/t/browser/admin-page.mjs", $nginx->url('/admin/'),
                        $nginx->url('/api/x'), $artifacts);
    is $status, 0, 'the browser created, used, revoked and filtered a key through the page'
        or diag "exit status @{[ $status >> 8 ]}, signal @{[ $status & 127 ]}; screenshots, if any, in $artifacts";
}
ok -s "$artifacts/list.png", 'screenshot of the list: build/artifacts/admin-page/list.png';

# The harness checks the tokens apikeyctl minted; this one was minted by the
# page, so look for any token at all in the module's own lines.
my @leaks = grep { /ak_[0-9a-z]{12}_[0-9A-Za-z]{46}/
                   && !/http (proxy )?header:|http script var: "|client sent duplicate header line/ }
            split /\n(?=\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d )/, $nginx->error_log;
ok !@leaks, 'no token minted through the page in any module line'
    or diag map { (my $l = $_) =~ s/(ak_[0-9a-z]{12}_)[0-9A-Za-z]{46}/$1.../g; "$l\n" } @leaks[0 .. 0];

$nginx->stop;

done_testing;
