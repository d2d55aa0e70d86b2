# Cross-site request forgery in a real browser (t/browser/admin-csrf.mjs): the
# admin's Basic credentials are cached, and a page of another site forges
# text/plain, urlencoded and multipart forms and no-cors fetches against
# create, rotate, revoke and delete, and frames the admin page. The keys stay
# as they were, and the frame stays empty.
use strict;
use warnings;
use lib 't/lib';
use File::Compare qw(compare);
use File::Copy qw(copy);
use File::Path qw(make_path);
use File::Temp ();
use Test::More;
use ApikeyTest;

my $CHROMIUM = '/usr/bin/chromium';
plan skip_all => "no $CHROMIUM (scripts/install-deps installs it)" unless -x $CHROMIUM;
my ($node_major) = (`node --version 2>/dev/null` // '') =~ /^v(\d+)\./;
plan skip_all => 'no node' unless $node_major;
plan skip_all => "node $node_major is too old: playwright-core needs 20 or newer" if $node_major < 20;

my $root = root();
my $browser = "$root/build/browser";

# as t/400-admin-page.t: npm ci into build/browser from the committed lock, once
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
        unlink "$browser/package-lock.json";
        return 0;
    }
    return -f $installed;
}
if (!ok install_playwright(), 'playwright-core installed in build/browser') {
    done_testing;
    exit;
}

my $htpasswd = File::Temp->new;
print $htpasswd 'alice:' . `openssl passwd -apr1 secret`;
close $htpasswd;
chmod 0644, $htpasswd->filename;

my $evil_port = ApikeyTest::free_port();
my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    # another site: its own host name and port, a static page
    http => <<"EOF",
    server {
        listen 127.0.0.1:$evil_port;
        root $root/t/browser;
        location = /evil.html { }
        location / { return 404; }
    }
EOF
    server => <<"EOF",
        location /admin/ {
            auth_basic "key admin";
            auth_basic_user_file @{[ $htpasswd->filename ]};
            apikey_admin auth=off;
        }
        location /keyadmin/ {
            apikey_superscope root;
            apikey_admin;
        }
EOF
);

my %victim = map { $_ => $redis->create_key(name => "victim $_", scopes => ['read']) } qw(rotate revoke delete);
{
    local $ENV{NODE_PATH} = "$browser/node_modules";
    local $ENV{CHROMIUM_BIN} = $CHROMIUM;
    my $status = system('node', "$root/t/browser/admin-csrf.mjs", $nginx->url('/admin/'),
                        "http://evil.test:$evil_port/evil.html",
                        (map { $victim{$_}{id} } qw(rotate revoke delete)), 'alice', 'secret',
                        $nginx->url('/keyadmin/'));
    is $status, 0, "another site's forms and no-cors fetches changed no key, and could not frame the page"
        or diag "exit status @{[ $status >> 8 ]}";
}
for (qw(rotate revoke delete)) {
    is $nginx->get('/api/x', 'X-API-Key' => $victim{$_}{token})->{status}, 200,
        "the key the page tried to $_ still works with its token";
}

$nginx->stop;
done_testing;
