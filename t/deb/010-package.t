# The Debian package as an operator meets it: make deb's .deb installed with
# apt-get next to the distro's nginx, enabled through /etc/nginx/modules-enabled
# the way Debian's own libnginx-mod-* packages are, /usr/sbin/nginx checking
# keys that the packaged apikeyctl minted, then removed and purged without
# leaving a file behind.
#
# It installs and removes a package on this machine, so it runs as root from
# `make test-deb` only: `prove t/` does not descend into t/deb/.
use strict;
use warnings;
use lib 't/lib';
use File::Temp qw(tempdir);
use Test::More;
use ApikeyTest;

my $PKG      = 'libnginx-mod-http-apikey';
my $MODULE   = '/usr/lib/nginx/modules/ngx_http_apikey_module.so';
my $SNIPPET  = '/usr/share/nginx/modules-available/mod-http-apikey.conf';
my $ENABLED  = '/etc/nginx/modules-enabled';
my $LINK     = "$ENABLED/50-mod-http-apikey.conf";
my $CTL      = '/usr/bin/apikeyctl';
my $EXAMPLE  = "/usr/share/doc/$PKG/examples/apikey.conf";
my $NGINX    = '/usr/sbin/nginx';
# Debian's nginx.conf loads every enabled module with exactly this line
my $LOAD_ENABLED = "include $ENABLED/*.conf;";

$> == 0 or BAIL_OUT('installs a package with apt-get: run as root');
# never remove an operator's own installation
package_status() eq '' or BAIL_OUT("$PKG is on this machine already (" . package_status() . ')');

chomp(my $arch = `dpkg --print-architecture`);
my @debs = glob(root() . "/build/deb/${PKG}_*_$arch.deb");
@debs == 1 or BAIL_OUT('no package, or several: run make deb (make test-deb does)');
my $deb = $debs[0];

# ---------------------------------------------------------------------------
# The package as built

my @contents = map { m{^\S+ \S+ +\d+ \S+ \S+ \.(/\S*?)/?(?: -> .*)?$} ? $1 : () }
               split /\n/, `dpkg-deb --contents $deb`;
for my $path ($MODULE, $SNIPPET, $CTL, '/usr/share/man/man1/apikeyctl.1.gz', $EXAMPLE,
              "/usr/share/doc/$PKG/copyright") {
    ok((grep { $_ eq $path } @contents), "ships $path");
}
ok !(grep { m{^/etc/} } @contents),
   'ships nothing under /etc: the modules-enabled link is made by postinst, as Debian does';

# The nginx ABI dependency is the one nginx-dev records for the nginx it
# describes, and the distro's nginx provides it, so apt-get can pair them.
my ($abi) = `cat /usr/share/nginx/src/debian/libnginx-mod.abisubstvars` =~ /^nginx:abi=(\S+)/m;
ok $abi, "nginx-dev names the ABI: $abi";
chomp(my $depends = `dpkg-deb --field $deb Depends`);
my @depends = split /,\s*/, $depends;
ok((grep { $_ eq $abi } @depends), "Depends on $abi") or diag "Depends: $depends";
ok((grep { /^libhiredis/ } @depends), 'Depends on hiredis (from shlibs)') or diag "Depends: $depends";
chomp(my $nginx_pkg = `dpkg-query --search $NGINX`);
$nginx_pkg =~ s/:.*//s;
chomp(my $provides = `dpkg-query --show --showformat '\${Provides}' $nginx_pkg`);
ok((grep { $_ eq $abi } split /,\s*/, $provides), "$NGINX ($nginx_pkg) provides $abi");

# ---------------------------------------------------------------------------
# Install

my %existed = map { $_ => (-e $_ || -l $_) } @contents;
my @enabled_before = enabled();

# Whatever happens from here on, the machine is left as it was: no nginx of
# this test running with the module, no package (the test's exit status stays).
my $installed_by_us = 1;
my $nginx;
END {
    local $?;
    $nginx->halt if $nginx;
    purge() if $installed_by_us && package_status() ne '';
}

apt('install', $deb) or BAIL_OUT('apt-get install failed');
is package_status(), 'install ok installed', 'installed';

ok -f $MODULE, "module in /usr/lib/nginx/modules";
is slurp($SNIPPET), "load_module modules/ngx_http_apikey_module.so;\n",
   'its load_module snippet in /usr/share/nginx/modules-available';
is readlink($LINK), $SNIPPET, "enabled: $LINK links to it";
is_deeply [enabled()], [sort @enabled_before, $LINK], 'and nothing else changed in modules-enabled';
like `$CTL --version`, qr/^apikeyctl \d/, "$CTL runs";
like `zcat /usr/share/man/man1/apikeyctl.1.gz`, qr/^\.TH APIKEYCTL 1 /m, 'apikeyctl(1)';
my @files = grep { !-d } split /\n/, `dpkg --listfiles $PKG`;
ok((grep { $_ eq $MODULE } @files), 'dpkg --listfiles lists what it installed');

# ---------------------------------------------------------------------------
# The distro's nginx, loading the module as Debian's nginx.conf does, checks keys

my $redis = ApikeyTest::Redis->start;
local $ENV{APIKEYCTL} = $CTL;
$nginx = DebianNginx->start(
    redis    => $redis,
    load     => $LOAD_ENABLED,
    http     => DebianNginx::private_temp_paths(),
    location => 'apikey on; apikey_scope read GET;',
);
my $reader = $redis->create_key(name => 'deb reader', scopes => ['read']);
my $nobody = $redis->create_key(name => 'deb no scopes');

my $res = $nginx->get('/api/x', 'X-API-Key' => $reader->{token});
is $res->{status}, 200, 'a key with the scope: 200';
like $res->{body}, qr/^upstream/, 'and the request reached the upstream';
unlike $res->{body}, qr/\Q$reader->{token}\E/, 'without the key';

$res = $nginx->get('/api/x');
is $res->{status}, 401, 'no key: 401';
is json_of($res->{body})->{error}, 'missing_key', 'missing_key';

$res = $nginx->get('/api/x', 'X-API-Key' => $nobody->{token});
is $res->{status}, 403, 'a key without the scope: 403';

my ($st) = $redis->cli('revoke', $reader->{id});
is $st, 0, 'revoked with the packaged apikeyctl';
$res = $nginx->get('/api/x', 'X-API-Key' => $reader->{token});
is $res->{status}, 401, 'the revoked key: 401';
is json_of($res->{body})->{error}, 'revoked_key', 'revoked_key';

my @log = $nginx->access_log_lines(4);
is $log[0][0], $reader->{id}, '$apikey_id in the access log';

$nginx->stop;

# The example is valid for this nginx with this module, in the http context
# where it says it belongs (its log file moved into the private prefix, so
# nginx -t creates nothing in /var/log).
(my $example = slurp($EXAMPLE)) =~ s{/var/log/nginx/}{}g;
my ($ok, $out) = nginx_t("http {\n" . DebianNginx::private_temp_paths() . "$example\n}\n");
ok $ok, 'the example configuration passes nginx -t' or diag $out;

# ---------------------------------------------------------------------------
# Remove, then purge

apt('remove', $PKG) or BAIL_OUT('apt-get remove failed');
ok !-e $MODULE, 'removed: the module is gone';
ok !-e $LINK && -l "$LINK.removed",
   'its link parked as .removed, out of the modules-enabled/*.conf glob';
($ok, $out) = nginx_t('');
ok $ok, 'the enabled modules still load: no dangling load_module' or diag $out;

apt('purge', $PKG) or BAIL_OUT('apt-get purge failed');
is package_status(), '', 'purged: dpkg no longer knows the package';
is_deeply [enabled()], [sort @enabled_before], 'modules-enabled as it was';
my @left = grep { -e $_ || -l $_ } @files;
is_deeply \@left, [], 'no file of the package is left' or diag join "\n", @left;
my @created = grep { !$existed{$_} && (-e $_ || -l $_) } @contents;
is_deeply \@created, [], 'nothing the package created is left, directories included'
    or diag join "\n", @created;
is_deeply [glob("/var/lib/dpkg/info/$PKG.*")], [], 'no maintainer script or list left';
$installed_by_us = 0;

done_testing;

# ---------------------------------------------------------------------------

# "install ok installed", "deinstall ok config-files", ...; '' if dpkg has no
# record of it (never installed, or purged)
sub package_status {
    my $s = `dpkg-query --show --showformat '\${Status}' $PKG 2>/dev/null`;
    return $s =~ /not-installed$/ ? '' : $s;
}

sub enabled { sort glob("$ENABLED/*") }

# apt-get as an operator runs it, unattended; it waits for another apt-get or
# dpkg on the machine to finish. Returns (ok, output).
sub apt_get {
    my ($action, @what) = @_;
    local $ENV{DEBIAN_FRONTEND} = 'noninteractive';
    my $out = `apt-get --yes --quiet --no-install-recommends -o DPkg::Lock::Timeout=600 $action @what 2>&1`;
    return ($? == 0, $out);
}

sub apt {
    my ($ok, $out) = apt_get(@_);
    ok $ok, "apt-get $_[0]" or diag $out;
    return $ok;
}

sub purge { apt_get('purge', $PKG) }

sub slurp {
    my ($file) = @_;
    open my $f, '<', $file or return '';
    local $/;
    return <$f>;
}

# nginx -t, in a private prefix, on a configuration that loads what
# modules-enabled enables, and then says $rest
sub nginx_t {
    my ($rest) = @_;
    my $dir = tempdir(CLEANUP => 1);
    DebianNginx::link_modules($dir);
    open my $f, '>', "$dir/nginx.conf" or die;
    print $f "$LOAD_ENABLED\nevents {}\n$rest";
    close $f;
    my $out = `$NGINX -t -p $dir -c $dir/nginx.conf 2>&1`;
    return ($? == 0, $out);
}


# The harness's nginx (a private prefix, free ports, an echo upstream), with
# the module loaded by Debian's snippets instead of by path.
package DebianNginx;

use parent -norequire, 'ApikeyTest::Nginx';
use Time::HiRes ();

# Debian's snippets say "load_module modules/...": relative to nginx's prefix,
# /usr/share/nginx, whose modules/ links to /usr/lib/nginx/modules. A private
# prefix (nginx -p) gets the same link.
sub link_modules {
    my ($dir) = @_;
    -l "$dir/modules" or symlink '/usr/lib/nginx/modules', "$dir/modules" or die "symlink: $!";
}

# After a failure: no log checks, but no master or worker left running.
sub halt {
    my ($self) = @_;
    return if $self->{stopped}++;
    my $pid = $self->master_pid or return;
    my @workers = $self->worker_pids;
    kill 'QUIT', $pid;
    for (1 .. 250) { last unless kill 0, $pid; Time::HiRes::sleep(0.02) }
    kill 'KILL', $pid, @workers if kill 0, $pid;
}

sub write_conf {
    my ($self) = @_;
    link_modules($self->{dir});
    $self->SUPER::write_conf;
}

# nginx creates its temporary directories at start and hands them to the
# worker user; keep them in the prefix rather than in /var/lib/nginx
sub private_temp_paths {
    return join '', map { "${_}_temp_path ${_}_temp;\n" } qw(client_body proxy fastcgi uwsgi scgi);
}
