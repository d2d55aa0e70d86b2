package ApikeyTest;

# Test harness for t/*.t: starts a real redis-server and a real nginx with the
# built module on free loopback ports, speaks HTTP to it, drives apikeyctl.
#
#   my $redis = ApikeyTest::Redis->start;
#   my $nginx = ApikeyTest::Nginx->start(redis => $redis, location => 'apikey on;');
#   my $key   = $redis->create_key(name => 'x', scopes => ['read']);
#   my $res   = $nginx->get('/api/x', 'X-API-Key' => $key->{token});
#   is $res->{status}, 200;
#   $nginx->stop;   # also checks the error log: no alert/emerg/crit, no sanitizer
#                   # report, no token created in this test in any module line

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);

use Exporter 'import';
our @EXPORT = qw(free_port root wait_for_port cli json_of tokens_seen with_checksum poll_until);

my $ROOT = abs_path(dirname(__FILE__) . '/../..');

# make test-asan and make test-valgrind run this same suite against other builds:
#   APIKEY_MODULE    the module to load (default build/ngx_http_apikey_module.so)
#   APIKEYCTL        the CLI (default build/apikeyctl)
#   NGINX_BIN        the nginx binary (default /usr/sbin/nginx)
#   NGINX_PRELOAD    LD_PRELOAD for nginx only (the ASan runtime)
#   NGINX_WRAPPER    a command nginx runs under (valgrind ...); "%d" becomes the
#                    instance's directory
my @TOKENS;   # every token minted in this test, for the secret-leak check

# Every redis-server, nginx and fake this test starts is tracked, so that a run
# that fails half-way leaves nothing behind: a die or a signal (INT, TERM, HUP)
# ends the run through the END block below, which stops them all; a run killed
# outright (SIGKILL, or an END that never comes) is cleaned up by a small reaper
# process that outlives it and reads the same list from a file.
my $OWNER = $$;     # forked children (fakes, helpers) never clean up for the test
my @TRACKED;        # [kind, what]: pidfile PATH | pid PID | pgrp PGID
my $REGISTRY;       # the reaper's copy of @TRACKED

sub root { $ROOT }

# Remembers a process to end if the test ends without stopping it: a daemon's
# pidfile (read again at the end: nginx's master changes on a binary upgrade),
# a pid, or a process group.
sub track {
    my ($kind, $what) = @_;
    return unless $$ == $OWNER && defined $what && length $what;
    # a pid is remembered with its start time, and a pidfile with the
    # directory its process works in or names: pids are reused quickly on a
    # busy machine, and someone else's process must never be ended
    my $id = $kind eq 'pidfile' ? dirname($what) : _started($what) // return;
    push @TRACKED, [$kind, $what, $id];
    _start_reaper() unless $REGISTRY;
    if (open my $f, '>>', $REGISTRY) {
        print $f "$kind $what $id\n";
        close $f;
    }
}

# A process's start time (clock ticks since boot), or undef when it is gone.
sub _started {
    my ($pid) = @_;
    return undef unless $pid && $pid =~ /^\d+$/;
    open my $f, '<', "/proc/$pid/stat" or return undef;
    my $stat = <$f> // '';
    $stat =~ s/^.*\) //s or return undef;
    return (split ' ', $stat)[19];
}

# A process we started and may end: a redis-server, nginx (or valgrind
# running it), the same one we tracked.
sub _ours {
    my ($pid, $kind, $id) = @_;
    return 0 unless $pid && $pid =~ /^\d+$/ && kill 0, $pid;
    open my $f, '<', "/proc/$pid/cmdline" or return 0;
    my $cmd = do { local $/; <$f> } // '';
    return 0 unless $cmd =~ /redis-server|redis-sentinel|nginx|valgrind|memcheck/;
    if ($kind eq 'pid') {
        return (_started($pid) // '') eq $id ? 1 : 0;
    }
    # a pidfile's process: nginx -p names the directory, redis works in it
    my $cwd = readlink("/proc/$pid/cwd") // '';
    return index($cmd, $id) >= 0 || $cwd eq $id ? 1 : 0;
}

sub _children {
    my ($pid) = @_;
    return split ' ', `pgrep -P $pid 2>/dev/null`;
}

# Ends every tracked process still running: TERM first (nginx's master then
# ends its workers, valgrind writes its report), KILL after a grace period.
sub _reap {
    my (@entries) = @_;
    my (@pids, @groups);
    for my $e (@entries) {
        my ($kind, $what, $id) = @$e;
        if ($kind eq 'pidfile') {
            open my $f, '<', $what or next;
            chomp(my $pid = <$f> // '');
            push @pids, $pid if _ours($pid, $kind, $id);
        } elsif ($kind eq 'pid') {
            push @pids, $what if _ours($what, $kind, $id);
        } elsif ($kind eq 'pgrp') {
            # a fake's group: its leader is the one we started, or gone (a
            # group's id is not given to a new process while the group lives)
            my $leader = _started($what);
            push @groups, $what if kill(0, -$what) && (!defined $leader || $leader eq $id);
        }
    }
    my %seen;
    @pids = grep { !$seen{$_}++ } @pids;
    return unless @pids || @groups;
    my @all = (@pids, map { _children($_) } @pids);
    # nginx gracefully (QUIT): on TERM its master kills slow workers after a
    # second, before valgrind has written their report
    for my $pid (@pids) {
        open my $f, '<', "/proc/$pid/cmdline" or next;
        my $cmd = do { local $/; <$f> } // '';
        kill $cmd =~ /nginx/ ? 'QUIT' : 'TERM', $pid;
    }
    kill 'TERM', -$_ for @groups;
    my $until = time + ($ENV{NGINX_WRAPPER} ? 30 : 3);
    while (time < $until && grep { !gone($_) } @all) { sleep 0.05 }
    kill 'KILL', grep { !gone($_) } @all;
    kill 'KILL', -$_ for grep { kill 0, -$_ } @groups;
}

sub _start_reaper {
    my $dir = File::Temp::tempdir('apikey-reaper-XXXXXX', TMPDIR => 1, CLEANUP => 0);
    $REGISTRY = "$dir/tracked";
    open my $f, '>', $REGISTRY or die "$REGISTRY: $!";
    close $f;
    my $pid = fork // die "fork: $!";
    return if $pid;
    # the reaper: out of the test's process group (a ^C to prove reaches the
    # test, whose END cleans up), holding none of its output open (prove waits
    # for the end of it), waiting for the test to go
    POSIX::setsid();
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', '/dev/null';
    open STDERR, '>', '/dev/null';
    $SIG{$_} = 'IGNORE' for qw(INT TERM HUP PIPE);
    sleep 0.2 while getppid() == $OWNER;
    my @entries;
    if (open my $r, '<', $REGISTRY) {
        @entries = map { chomp; [split / /, $_, 3] } <$r>;
    }
    _reap(@entries);
    unlink $REGISTRY;
    rmdir $dir;
    POSIX::_exit(0);
}

# A die ends the test through here; so do these signals, instead of leaving
# the test's servers running.
for my $sig (qw(INT TERM HUP)) {
    $SIG{$sig} = sub {
        POSIX::_exit(1) unless $$ == $OWNER;   # a forked helper (a fake's handler)
        diag "test ended by SIG$sig";
        exit 128 + ($sig eq 'INT' ? 2 : $sig eq 'TERM' ? 15 : 1);
    };
}

END {
    my $status = $?;
    _reap(@TRACKED) if $$ == $OWNER;
    $? = $status;
}

sub tokens_seen { @TOKENS }

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', ReuseAddr => 1) or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub wait_for_port {
    my ($port, $seconds) = @_;
    my $until = time + ($seconds // 5);
    while (time < $until) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp');
        if ($s) { close $s; return 1 }
        sleep 0.02;
    }
    return 0;
}

# Polls $check until it returns true, for at most $seconds (generous: it
# must hold under valgrind too); returns its last result. Tests wait on a
# condition with it instead of sleeping for a time that usually suffices.
sub poll_until {
    my ($seconds, $check) = @_;
    my $until = time + $seconds;
    while (1) {
        my $ok = $check->();
        return $ok if $ok || time > $until;
        sleep 0.05;
    }
}

# A token with the given body and a correct checksum (CRC-32, base62, 6 digits):
# well-formed, so it goes to Redis, but made up.
sub with_checksum {
    my ($body) = @_;
    require Compress::Zlib;
    my $crc = Compress::Zlib::crc32($body);
    my @a = ('0' .. '9', 'A' .. 'Z', 'a' .. 'z');
    my $check = '';
    for (1 .. 6) { $check = $a[$crc % 62] . $check; $crc = int($crc / 62) }
    return $body . $check;
}

# A process that has exited: gone, or a zombie its (re)parent has not reaped
# yet (a daemon's parent is init, which may take its time).
sub gone {
    my ($pid) = @_;
    return 1 unless kill 0, $pid;
    open my $f, '<', "/proc/$pid/stat" or return 1;
    my $stat = <$f> // '';
    return $stat =~ /^\d+ \(.*\) Z/ ? 1 : 0;
}

sub json_of {
    my ($text) = @_;
    my $v = eval { JSON::PP->new->utf8->decode($text) };
    return $v;
}

# Runs apikeyctl (the built one, or $ENV{APIKEYCTL}, an installed one);
# returns (exit status, stdout, stderr).
sub cli {
    my ($env, @args) = @_;
    my $dir = tempdir(CLEANUP => 1);
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', "$dir/out" or die;
        open STDERR, '>', "$dir/err" or die;
        %ENV = (%ENV, %$env);
        exec $ENV{APIKEYCTL} // "$ROOT/build/apikeyctl", @args or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my $status = $? >> 8;
    my $out = do { local (@ARGV, $/) = "$dir/out"; <> } // '';
    my $err = do { local (@ARGV, $/) = "$dir/err"; <> } // '';
    while ($out =~ /(ak_(?:live_|test_)?[0-9a-z]{12}_[0-9A-Za-z]{46})/g) { push @TOKENS, $1 }
    die "sanitizer report from apikeyctl @args:\n$err"
        if $err =~ /AddressSanitizer|LeakSanitizer|runtime error:/;
    return ($status, $out, $err);
}


package ApikeyTest::Redis;

use strict;
use warnings;
use File::Temp qw(tempdir);
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep);

# Options: port, args (extra redis-server arguments), unix (also listen on a
# unix socket in the temp dir, see unix_socket()), password (requirepass: cmd()
# and cli() then authenticate with it).
# A free port for a Redis; a cluster node also needs its bus port, 10000 up.
sub _free_port_for {
    my ($cluster) = @_;
    for (1 .. 50) {
        my $port = ApikeyTest::free_port();
        return $port unless $cluster;
        my $bus = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                        LocalPort => $port + 10000, Proto => 'tcp',
                                        ReuseAddr => 1) or next;
        close $bus;
        return $port;
    }
    die "no free port with a free bus port";
}

sub start {
    my ($class, %opt) = @_;
    my $cluster = grep { $_ eq '--cluster-enabled' } @{ $opt{args} // [] };
    # a port found free may be taken by another test before redis-server
    # binds it (tests run in parallel): then this server never started, and
    # another port is tried
    for my $try (1 .. 5) {
        my $self = bless { dir => tempdir(CLEANUP => 1),
                           port => $opt{port} // _free_port_for($cluster),
                           extra => [@{ $opt{args} // [] }], password => $opt{password} }, $class;
        push @{ $self->{extra} }, '--requirepass', $opt{password} if defined $opt{password};
        if ($opt{unix}) {
            # nginx run as root has its workers run as nobody: they must reach the socket
            chmod 0711, $self->{dir};
            push @{ $self->{extra} }, '--unixsocket', $self->unix_socket, '--unixsocketperm', '777';
        }
        $self->_spawn;
        return $self if defined $opt{port} || ($self->{pid} && kill 0, $self->{pid});
    }
    die "redis-server failed to start on a free port, five times";
}

sub _spawn {
    my ($self) = @_;
    # --shutdown-timeout 0: a master with replicas stops at once, without
    # waiting for them to catch up
    system('redis-server', '--port', $self->{port}, '--bind', '127.0.0.1', '--save', '',
           '--shutdown-timeout', '0',
           '--appendonly', 'no', '--daemonize', 'yes', '--dir', $self->{dir},
           '--pidfile', "$self->{dir}/redis.pid", '--logfile', "$self->{dir}/redis.log",
           @{ $self->{extra} }) == 0 or die "redis-server failed to start";
    ApikeyTest::track(pidfile => "$self->{dir}/redis.pid");
    ApikeyTest::wait_for_port($self->{port}) or die "redis-server not listening";
    for (1 .. 100) {
        last if ($self->cmd('PING') // '') eq 'PONG';
        sleep 0.02;
    }
    $self->{pid} = $self->pid;
    ApikeyTest::track(pid => $self->{pid});
}

sub port { $_[0]{port} }
sub address { "127.0.0.1:$_[0]{port}" }
sub unix_socket { "$_[0]{dir}/redis.sock" }   # listened on only when started with unix => 1

sub pid {
    my ($self) = @_;
    open my $f, '<', "$self->{dir}/redis.pid" or return $self->{pid};
    chomp(my $pid = <$f> // '');
    return $pid;
}

# redis-cli, returning its raw output with the trailing newline removed
sub cmd {
    my ($self, @args) = @_;
    # in the environment, not on the command line (ps would show it)
    local %ENV = (%ENV, defined $self->{password} ? (REDISCLI_AUTH => $self->{password}) : ());
    open my $p, '-|', 'redis-cli', '-p', $self->{port}, @args or die;
    local $/;
    my $out = <$p> // '';
    close $p;
    $out =~ s/\n\z//;
    return $out;
}

# subscriptions to any channel (nginx workers subscribe for apikey_cache)
sub subscribers {
    my ($self) = @_;
    my @channels = grep { length } split /\n/, $self->cmd('PUBSUB', 'CHANNELS');
    return 0 unless @channels;
    my %n = split /\n/, $self->cmd('PUBSUB', 'NUMSUB', @channels);
    my $total = 0;
    $total += $_ for values %n;
    return $total;
}

# calls of one command since the last CONFIG RESETSTAT (INFO commandstats)
sub calls {
    my ($self, $command) = @_;
    my $info = $self->cmd('INFO', 'commandstats');
    return $info =~ /cmdstat_\Q$command\E:calls=(\d+)/ ? $1 : 0;
}

sub stop {
    my ($self) = @_;
    my $pid = $self->pid or return;
    kill 'TERM', $pid;
    for (1 .. 200) { last if ApikeyTest::gone($pid); sleep 0.02 }
    unlink "$self->{dir}/redis.pid";
    delete $self->{pid};
}

sub restart {
    my ($self) = @_;
    $self->stop;
    $self->_spawn;
}

# SIGKILL: a server that dies without a word (a crashed or unplugged host).
sub crash {
    my ($self) = @_;
    my $pid = $self->pid or return;
    kill 'KILL', $pid;
    for (1 .. 200) { last if ApikeyTest::gone($pid); sleep 0.02 }
    unlink "$self->{dir}/redis.pid";
    delete $self->{pid};
}

sub cli {
    my ($self, @args) = @_;
    return ApikeyTest::cli({ APIKEY_REDIS => $self->address,
                             defined $self->{password}
                                 ? (APIKEY_REDIS_PASSWORD => $self->{password}) : () }, @args);
}

# Creates a key through apikeyctl; returns its JSON object (id, token, ...).
sub create_key {
    my ($self, %opt) = @_;
    my @args = ('create', '--json', '--name', $opt{name} // 'test key');
    push @args, map { ('--scope', $_) } @{ $opt{scopes} // [] };
    push @args, map { ('--limit', $_) } @{ $opt{limits} // [] };
    push @args, '--expires-in', $opt{expires_in} if $opt{expires_in};
    my ($status, $out, $err) = $self->cli(@args);
    die "apikeyctl create failed ($status): $err" if $status != 0;
    return JSON::PP->new->utf8->decode($out);
}

sub DESTROY { $_[0]->stop }


package ApikeyTest::Nginx;

use strict;
use warnings;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(sleep time);

my $NGINX = $ENV{NGINX_BIN} // '/usr/sbin/nginx';

# Options:
#   redis     ApikeyTest::Redis (or redis_address => 'host:port')
#   location  directives of "location /api/" (proxied to the echo upstream)
#   http      extra directives at http level
#   server    extra directives (locations) in the front server
#   redis_args extra apikey_redis parameters
#   workers   worker_processes (default 1)
#   main      extra directives at the top level (worker_shutdown_timeout ...)
#   env       { NAME => value } for nginx's environment (MALLOC_PERTURB_ makes
#             glibc fill freed memory, so that a use after free shows)
#   load      how the module is loaded (default: load_module of the built one,
#             or of APIKEY_MODULE)
sub start {
    my ($class, %opt) = @_;
    my $self = bless { dir => tempdir(CLEANUP => 1), port => ApikeyTest::free_port(),
                       upstream => ApikeyTest::free_port(), opt => \%opt }, $class;
    # run as root, nginx's workers are another user (nobody; Debian's build:
    # www-data) and must reach the temporary files under the prefix (a body
    # over client_body_buffer_size: nginx.org's builds keep client_body_temp
    # there, Debian's in /var/lib/nginx)
    chmod 0755, $self->{dir};
    mkdir "$self->{dir}/logs";
    $self->write_conf;
    $self->_run(1);
    return $self;
}

sub conf_text {
    my ($self) = @_;
    my %o = %{ $self->{opt} };
    my $root = ApikeyTest::root();
    my $module = $ENV{APIKEY_MODULE} // "$root/build/ngx_http_apikey_module.so";
    my $redis = $o{redis_address} // ($o{redis} ? $o{redis}->address : '127.0.0.1:1');
    my $redis_args = $o{redis_args} // '';
    my $apikey_redis = exists $o{apikey_redis} ? $o{apikey_redis}
                     : "apikey_redis $redis $redis_args;";
    my $load = $o{load} // "load_module $module;";
    my $workers = $o{workers} // 1;
    $o{location} //= 'apikey on;';
    $o{$_} //= '' for qw(main http server);
    # snippets may name the echo upstream as $upstream_port
    s/\$upstream_port\b/$self->{upstream}/g for @o{qw(http server location)};
    my $location = $o{location};
    # keep the sanitizer runtime across the re-exec of a binary upgrade
    my $env = $ENV{NGINX_PRELOAD}
            ? 'env LD_PRELOAD; env ASAN_OPTIONS; env UBSAN_OPTIONS; env LSAN_OPTIONS;' : '';
    return <<"EOF";
$env
$load
$o{main}
worker_processes $workers;
daemon on;
master_process on;
pid $self->{dir}/nginx.pid;
error_log $self->{dir}/logs/error.log debug;
events { worker_connections 1024; }
http {
    access_log off;
    log_format apikey '\$apikey_id|\$apikey_result|\$status|\$apikey_name|\$apikey_scopes|\$apikey_rate_remaining|\$request_uri';
    $apikey_redis
    @{[ $ENV{NGINX_WRAPPER} ? 'apikey_redis_timeout 5s;' : '' ]}
    $o{http}

    server {
        listen 127.0.0.1:$self->{upstream};
        location / {
            return 200 "upstream uri=[\$request_uri] x-api-key=[\$http_x_api_key] x-api-token=[\$http_x_api_token] authorization=[\$http_authorization] x-key-id=[\$http_x_key_id] x-key-name=[\$http_x_key_name]\\n";
        }
    }

    server {
        listen 127.0.0.1:$self->{port};
        access_log $self->{dir}/logs/access.log apikey;

        location /open/ {
            proxy_pass http://127.0.0.1:$self->{upstream};
        }

        location /api/ {
            $location
            proxy_pass http://127.0.0.1:$self->{upstream};
        }

        $o{server}
    }
}
EOF
}

# Written aside and renamed: a master still reading the file for an earlier
# reload never sees it half written.
sub write_conf {
    my ($self) = @_;
    open my $f, '>', "$self->{dir}/nginx.conf.new" or die;
    print $f $self->conf_text;
    close $f or die;
    rename "$self->{dir}/nginx.conf.new", "$self->{dir}/nginx.conf" or die;
}

# The environment and command line nginx is started with (sanitizer runtime,
# valgrind), see the top of this file.
sub nginx_command {
    my ($self, @args) = @_;
    my $dir = $self->{dir};
    my @env;
    if ($ENV{NGINX_PRELOAD}) {
        push @env, "LD_PRELOAD=$ENV{NGINX_PRELOAD}",
            "ASAN_OPTIONS=log_path=$dir/sanitizer:detect_leaks=1:abort_on_error=0",
            "UBSAN_OPTIONS=log_path=$dir/sanitizer:print_stacktrace=1",
            "LSAN_OPTIONS=suppressions=" . ApikeyTest::root() . "/t/sanitizer/lsan.supp:print_suppressions=0";
    }
    my %extra = %{ $self->{opt}{env} // {} };
    push @env, map { "$_=$extra{$_}" } sort keys %extra;
    my $wrapper = $ENV{NGINX_WRAPPER} // '';
    $wrapper =~ s/%d/$dir/g;
    return join ' ', (@env ? ('env', @env) : ()), $wrapper, $NGINX, '-p', $dir, '-c', "$dir/nginx.conf", @args;
}

sub _run {
    my ($self, $must) = @_;
    my $cmd = $self->nginx_command;
    my $out = `$cmd 2>&1`;
    if ($? != 0) {
        die "nginx failed to start: $out" if $must;
        return $out;
    }
    ApikeyTest::track(pidfile => "$self->{dir}/nginx.pid");
    ApikeyTest::wait_for_port($self->{port}, $ENV{NGINX_WRAPPER} ? 60 : 5)
        or die "nginx not listening";
    $self->{pid} = $self->master_pid;
    ApikeyTest::track(pid => $self->{pid});
    return '';
}

# nginx -t on this configuration: (ok, output)
sub test_conf {
    my ($class_or_self, %opt) = @_;
    my $self = ref $class_or_self ? $class_or_self
             : bless { dir => tempdir(CLEANUP => 1), port => 1, upstream => 2, opt => \%opt },
                     $class_or_self;
    mkdir "$self->{dir}/logs";
    $self->write_conf;
    local $ENV{NGINX_WRAPPER};   # no need to run nginx -t under valgrind
    my $cmd = $self->nginx_command('-t');
    my $out = `$cmd 2>&1`;
    return ($? == 0, $out);
}

sub port { $_[0]{port} }
sub dir { $_[0]{dir} }
sub url { "http://127.0.0.1:$_[0]{port}$_[1]" }

sub master_pid {
    my ($self) = @_;
    open my $f, '<', "$self->{dir}/nginx.pid" or return $self->{pid};
    chomp(my $pid = <$f> // '');
    return $pid;
}

sub worker_pids {
    my ($self) = @_;
    my $master = $self->master_pid or return ();
    my @pids = split ' ', `pgrep -P $master 2>/dev/null`;
    return @pids;
}

sub signal {
    my ($self, $sig) = @_;
    kill $sig, $self->master_pid;
}

sub reload {
    my ($self) = @_;
    $self->write_conf;
    my $cmd = $self->nginx_command('-s', 'reload');
    `$cmd 2>&1`;
}

sub error_log {
    my ($self) = @_;
    open my $f, '<', "$self->{dir}/logs/error.log" or return '';
    local $/;
    return <$f> // '';
}

sub access_log {
    my ($self) = @_;
    open my $f, '<', "$self->{dir}/logs/access.log" or return ();
    return map { chomp; [split /\|/, $_, -1] } <$f>;
}

# Waits until the access log has at least $n lines (nginx writes it after the response).
sub access_log_lines {
    my ($self, $n) = @_;
    my @lines;
    for (1 .. 100) {
        @lines = $self->access_log;
        last if @lines >= $n;
        sleep 0.02;
    }
    return @lines;
}

# Raw HTTP/1.1 request; headers are [name, value] pairs sent verbatim, so
# tests can send repeated, empty, binary or huge values.
sub request {
    my ($self, $method, $path, @headers) = @_;
    my $sock = $self->send_request($method, $path, @headers)
        or return { status => 0, error => "connect: $!" };
    return $self->read_response($sock);
}

sub send_request {
    my ($self, $method, $path, @headers) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port},
                                     Proto => 'tcp', Timeout => 5) or return;
    my $body = '';
    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    while (@headers) {
        my ($n, $v) = splice @headers, 0, 2;
        if ($n eq ':body') { $body = $v; next }
        $req .= "$n: $v\r\n";
    }
    $req .= "Content-Length: " . length($body) . "\r\n" if length $body;
    $req .= "\r\n$body";
    $sock->syswrite($req);
    return $sock;
}

sub read_response {
    my ($self, $sock, $timeout) = @_;
    my $data = '';
    my $sel = IO::Select->new($sock);
    my $until = time + ($timeout // 10);
    while (time < $until) {
        last unless $sel->can_read($until - time);
        my $n = $sock->sysread(my $buf, 65536);
        last unless $n;
        $data .= $buf;
    }
    close $sock;
    return parse_response($data);
}

sub parse_response {
    my ($data) = @_;
    my ($head, $body) = split /\r\n\r\n/, $data, 2;
    return { status => 0, raw => $data } unless defined $head && $head =~ m{^HTTP/1\.[01] (\d+)};
    my $res = { status => $1, body => $body // '', headers => {}, raw => $data };
    for my $line (split /\r\n/, $head) {
        next unless $line =~ /^([^:]+):\s*(.*)$/;
        push @{ $res->{headers}{lc $1} }, $2;
    }
    return $res;
}

sub get {
    my ($self, $path, @headers) = @_;
    return $self->request('GET', $path, @headers);
}

# Sends every request first, then reads every response: the requests really
# are in flight together.
sub parallel {
    my ($self, $n, $method, $path, @headers) = @_;
    my @socks = map { $self->send_request($method, $path, @headers) } 1 .. $n;
    return map { $_ ? $self->read_response($_) : { status => 0 } } @socks;
}

sub header {
    my ($res, $name) = @_;
    my $v = $res->{headers}{lc $name} or return undef;
    return $v->[0];
}

# Fails the enclosing test if the error log shows a crash-level line, a
# sanitizer report, or a token minted in this test in a line of the module's
# own. nginx core's own lines that quote raw request headers are excluded: its
# debug dumps and its "client sent duplicate header line" (see README).
sub check_logs {
    my ($self) = @_;
    my $log = $self->error_log;
    my @bad = grep { /\[(alert|emerg|crit)\]|AddressSanitizer|runtime error:|LeakSanitizer/ }
              split /\n/, $log;
    for my $report (glob "$self->{dir}/sanitizer*") {
        open my $f, '<', $report or next;
        local $/;
        my $text = <$f> // '';
        push @bad, "$report:\n$text" if $text =~ /ERROR: |runtime error:/;
    }
    ok !@bad, 'error log: no alert, emerg, crit or sanitizer report'
        or diag join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)];
    # one entry per log line, with the continuation lines of multi-line debug dumps
    my @entries = split /\n(?=\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d )/, $log;
    my @leaks;
    for my $token (ApikeyTest::tokens_seen()) {
        push @leaks, grep { index($_, $token) >= 0
                            && !/http (proxy )?header:|http script var: "|client sent duplicate header line/ }
                     @entries;
    }
    ok !@leaks, 'error log: no token in any module line' or diag join "\n", grep defined, @leaks[0 .. 2];
}

sub stop {
    my ($self) = @_;
    return if $self->{stopped}++;
    my $pid = $self->master_pid;
    if ($pid) {
        kill 'QUIT', $pid;
        my $patience = $ENV{NGINX_WRAPPER} ? 3000 : 250;   # valgrind writes its report
        for (1 .. $patience) { last if ApikeyTest::gone($pid); sleep 0.02 }
        kill 'KILL', $pid unless ApikeyTest::gone($pid);
        sleep 0.2;   # workers write sanitizer reports as they exit
    }
    $self->check_logs;
}

# A test that dies leaves no nginx behind: master and workers.
sub DESTROY {
    my ($self) = @_;
    return if $self->{stopped};
    my $pid = $self->master_pid or return;
    my @workers = split ' ', `pgrep -P $pid 2>/dev/null`;
    kill 'KILL', $pid, @workers;
}

1;
