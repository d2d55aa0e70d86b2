package ApikeyTls;

# Redis over TLS for the tests: certificates made with openssl at test time,
# and redis-server (Debian's build has TLS) listening on a TLS port only.
#
#   my $certs = ApikeyTls::certs();     # a CA, server and client certificates,
#                                       # and a second CA that nothing trusts
#   my $redis = ApikeyTls::Redis->start(certs => $certs, auth_clients => 'yes');
#   $redis->address;                    # "127.0.0.1:TLSPORT"
#   $redis->cli(...);                   # apikeyctl over rediss://
#
# $certs->{ca}, {server}, {server_key}, {client}, {client_key}: the trusted
# chain; {other_ca}, {other_client}, {other_client_key}: signed by a CA the
# server does not trust; {dns_only}, {dns_only_key}: a server certificate for
# "localhost" only (no IP address).

use strict;
use warnings;
use File::Temp qw(tempdir);

sub _openssl {
    my (@args) = @_;
    my $out = `openssl @args 2>&1`;
    die "openssl @args failed:\n$out" if $? != 0;
}

sub certs {
    my $dir = tempdir(CLEANUP => 1);
    chmod 0755, $dir;   # nginx's workers and redis read them, whoever they run as
    my $key = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';
    my %c;
    for my $ca (qw(ca other_ca)) {
        _openssl("req -x509 -new $key -keyout $dir/$ca.key -out $dir/$ca.pem -days 2"
                 . " -subj /CN=apikey-test-$ca");
        $c{$ca} = "$dir/$ca.pem";
    }
    my %leaf = (
        server       => ['ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
        dns_only     => ['ca', 'subjectAltName=DNS:localhost'],
        client       => ['ca', 'extendedKeyUsage=clientAuth'],
        other_client => ['other_ca', 'extendedKeyUsage=clientAuth'],
    );
    for my $name (sort keys %leaf) {
        my ($ca, $ext) = @{ $leaf{$name} };
        open my $f, '>', "$dir/$name.ext" or die;
        print $f "$ext\n";
        close $f;
        _openssl("req -new $key -keyout $dir/$name.key -out $dir/$name.csr -subj /CN=$name");
        _openssl("x509 -req -in $dir/$name.csr -CA $dir/$ca.pem -CAkey $dir/$ca.key"
                 . " -CAcreateserial -out $dir/$name.pem -days 2 -extfile $dir/$name.ext");
        $c{$name} = "$dir/$name.pem";
        $c{"${name}_key"} = "$dir/$name.key";
    }
    chmod 0644, glob "$dir/*";
    $c{dir} = $dir;
    return \%c;
}

# redis-server arguments for a TLS-only server (port 0: no plain TCP).
sub server_args {
    my ($certs, %opt) = @_;
    return ('--port', '0', '--tls-port', $opt{port},
            '--tls-cert-file', $opt{cert} // $certs->{server},
            '--tls-key-file', $opt{key} // $certs->{server_key},
            '--tls-ca-cert-file', $certs->{ca},
            '--tls-auth-clients', $opt{auth_clients} // 'no');
}

# redis-cli over TLS, with the trusted client certificate
sub redis_cli_args {
    my ($certs) = @_;
    return ('--tls', '--cacert', $certs->{ca}, '--cert', $certs->{client},
            '--key', $certs->{client_key});
}

# apikeyctl's environment for a TLS Redis at `address` (any form)
sub cli_env {
    my ($certs, $address, %extra) = @_;
    return { APIKEY_REDIS => "rediss://$address", APIKEY_TLS_CA => $certs->{ca},
             APIKEY_TLS_CERT => $certs->{client}, APIKEY_TLS_KEY => $certs->{client_key},
             %extra };
}


# The least-privilege ACL rules README gives ("Least-privilege ACL users"),
# verbatim, with the default prefix apikey:.
our $MODULE_RULE = 'resetkeys ~apikey:* resetchannels &apikey:invalidate -@all '
    . '+select +script|load +evalsha +eval +subscribe +cluster|slots +asking '
    . '+time +exists +get +set +hget +hmget +hset +zadd +zremrangebyscore +pttl +pexpire +sadd +expire +zrem +hincrby +expireat';
our $ADMIN_EXTRA = '+hget +hgetall +del +scan +xadd +xrevrange +publish '
    . '+hdel +sadd +srem +smembers +scard +zadd +zrem +zscore +zcount +zrank +zrevrank +zrange +zrevrange +zrangebylex +zrevrangebylex +zscan +zrangebyscore';
# and for apikey_metrics' key count (t/215-key-hygiene.t)
our $METRICS_EXTRA = '+scan +hgetall';
our $CLI_RULE = 'resetkeys ~apikey:* resetchannels &apikey:invalidate -@all '
    . '+select +eval +cluster|slots +asking +time +zrangebyscore '
    . '+exists +hget +hgetall +hmget +hset +del +scan +xadd +xrevrange +publish '
    . '+hdel +sadd +srem +smembers +scard +zadd +zrem +zscore +zcount +zrank +zrevrank +zrange +zrevrange +zrangebylex +zrevrangebylex +zscan +hincrby';

# An ACL file with the default user off, "admin"/"adminpw" for the harness,
# and the users of those rules: apikey-module/modulepw,
# apikey-module-admin/moduleadminpw (with the admin API),
# apikey-module-metrics/modulemetricspw (with apikey_metrics), apikeyctl/ctlpw.
# More lines may be given. Returns its path.
sub acl_file {
    my (@more) = @_;
    my $dir = tempdir(CLEANUP => 1);
    chmod 0755, $dir;
    open my $f, '>', "$dir/users.acl" or die;
    print $f join "\n", 'user default off', 'user admin on >adminpw ~* &* +@all',
        "user apikey-module on >modulepw $MODULE_RULE",
        "user apikey-module-admin on >moduleadminpw $MODULE_RULE $ADMIN_EXTRA",
        "user apikey-module-metrics on >modulemetricspw $MODULE_RULE $METRICS_EXTRA",
        "user apikeyctl on >ctlpw $CLI_RULE", @more, '';
    close $f;
    return "$dir/users.acl";
}


package ApikeyTls::Redis;

use strict;
use warnings;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);
use parent -norequire, 'ApikeyTest::Redis';

# Options: certs (ApikeyTls::certs), auth_clients (yes|no|optional, default
# no), cert/key (the server's, default the trusted one for 127.0.0.1), args
# (more redis-server arguments), admin => [user, password] (how the harness
# itself logs in, when the default user is off), cli_env (more for apikeyctl).
sub start {
    my ($class, %opt) = @_;
    my $self = bless { dir => tempdir(CLEANUP => 1), port => ApikeyTest::free_port(),
                       certs => $opt{certs}, admin => $opt{admin},
                       cli_env => $opt{cli_env} // {}, extra => [] }, $class;
    push @{ $self->{extra} },
        ApikeyTls::server_args($opt{certs}, port => $self->{port},
                               auth_clients => $opt{auth_clients}, cert => $opt{cert},
                               key => $opt{key}),
        @{ $opt{args} // [] };
    $self->_spawn;
    return $self;
}

sub _spawn {
    my ($self) = @_;
    system('redis-server', '--bind', '127.0.0.1', '--save', '', '--shutdown-timeout', '0',
           '--appendonly', 'no', '--daemonize', 'yes', '--dir', $self->{dir},
           '--pidfile', "$self->{dir}/redis.pid", '--logfile', "$self->{dir}/redis.log",
           @{ $self->{extra} }) == 0 or die "redis-server failed to start";
    ApikeyTest::wait_for_port($self->{port}) or die "redis-server not listening";
    for (1 .. 100) {
        last if ($self->cmd('PING') // '') eq 'PONG';
        sleep 0.02;
    }
    $self->{pid} = $self->pid;
}

sub cmd {
    my ($self, @args) = @_;
    my @auth = $self->{admin} ? ('--user', $self->{admin}[0], '--pass', $self->{admin}[1]) : ();
    open my $p, '-|', 'redis-cli', ApikeyTls::redis_cli_args($self->{certs}), '-p', $self->{port},
        '--no-auth-warning', @auth, @args or die;
    local $/;
    my $out = <$p> // '';
    close $p;
    $out =~ s/\n\z//;
    return $out;
}

sub cli_env {
    my ($self, %extra) = @_;
    return ApikeyTls::cli_env($self->{certs}, $self->address, %{ $self->{cli_env} }, %extra);
}

sub cli {
    my ($self, @args) = @_;
    return ApikeyTest::cli($self->cli_env, @args);
}

1;
