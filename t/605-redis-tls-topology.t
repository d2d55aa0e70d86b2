# apikey_redis sentinel=... tls and cluster=... tls: the sentinels, the master
# they name and every cluster node are spoken to over TLS only (each
# redis-server and sentinel has --port 0), with the certificate verified;
# a failover announced over the TLS subscription is followed. apikeyctl
# reaches both through rediss://.
use strict;
use warnings;
use lib 't/lib';
use File::Temp qw(tempdir);
use Test::More;
use Time::HiRes qw(sleep time);
use ApikeyTest;
use ApikeyTls;
use ApikeyTopology;

my $certs = ApikeyTls::certs();
my $tls_args = "tls tls_ca=$certs->{ca}";

sub key_status {
    my ($nginx, $key) = @_;
    return $nginx->get('/api/x', 'X-API-Key' => $key->{token})->{status};
}

sub cli_create {
    my ($address, $name) = @_;
    my ($status, $out, $err) = ApikeyTest::cli(ApikeyTls::cli_env($certs, $address),
                                               'create', '--json', '--name', $name);
    is $status, 0, "apikeyctl create over rediss://$address" or diag $err;
    return ApikeyTest::json_of($out) // {};
}

# --- Sentinel: a master, a replica and a sentinel, all TLS-only; the data
# nodes with README's ACL users (the default user off)
{
    my $acl = ApikeyTls::acl_file();
    my @data = (certs => $certs, admin => ['admin', 'adminpw']);
    my @auth = ('--aclfile', $acl, '--masteruser', 'admin', '--masterauth', 'adminpw');
    my $master = ApikeyTls::Redis->start(@data, args => ['--tls-replication', 'yes', @auth]);
    my $replica = ApikeyTls::Redis->start(@data, args => [
        '--tls-replication', 'yes', @auth, '--replicaof', '127.0.0.1', $master->port]);
    ApikeyTopology::wait_until('the replica to sync over TLS', 10, sub {
        $replica->cmd('INFO', 'replication') =~ /master_link_status:up/
    });

    my $dir = tempdir(CLEANUP => 1);
    my $sport = ApikeyTest::free_port();
    open my $f, '>', "$dir/sentinel.conf" or die;
    print $f <<"EOF";
port 0
tls-port $sport
tls-cert-file $certs->{server}
tls-key-file $certs->{server_key}
tls-ca-cert-file $certs->{ca}
tls-auth-clients no
tls-replication yes
bind 127.0.0.1
daemonize yes
pidfile $dir/sentinel.pid
logfile $dir/sentinel.log
dir $dir
sentinel monitor tlsmaster 127.0.0.1 @{[ $master->port ]} 1
sentinel auth-user tlsmaster admin
sentinel auth-pass tlsmaster adminpw
sentinel down-after-milliseconds tlsmaster 1000
sentinel failover-timeout tlsmaster 4000
EOF
    close $f;
    system('redis-server', "$dir/sentinel.conf", '--sentinel') == 0 or die 'sentinel failed';
    ApikeyTest::wait_for_port($sport) or die 'sentinel not listening';
    my $sentinel = sub {
        open my $p, '-|', 'redis-cli', ApikeyTls::redis_cli_args($certs), '-p', $sport, @_ or die;
        local $/;
        my $out = <$p> // '';
        close $p;
        return $out;
    };
    ApikeyTopology::wait_until('the sentinel to see the replica', 20, sub {
        $sentinel->('SENTINEL', 'MASTER', 'tlsmaster') =~ /num-slaves\n1\n/
    });

    my $address = "sentinel=127.0.0.1:$sport master=tlsmaster";
    my $key = cli_create("apikeyctl:ctlpw\@$address", 'via tls sentinel');
    like $master->cmd('HGET', "apikey:key:{$key->{id}}", 'name'), qr/^via tls sentinel$/,
        '... written to the master the sentinel named';

    my $plain = ApikeyTest::Nginx->start(redis_address => $address);
    is key_status($plain, $key), 503, 'without tls: a TLS-only sentinel is not reached (503)';
    $plain->stop;

    my $nginx = ApikeyTest::Nginx->start(redis_address => $address,
                                         redis_args => "user=apikey-module password=modulepw $tls_args",
                                         http => 'apikey_cache zone=apikeys:1m ttl=60s;');
    ApikeyTopology::wait_until('nginx to find the master over TLS', 5,
                               sub { key_status($nginx, $key) == 200 });
    is key_status($nginx, $key), 200, 'sentinel over TLS: the key is checked at the master it names';

    # the cache's invalidation subscription is a TLS connection too
    is key_status($nginx, $key), 200, '... and cached';
    my ($status) = ApikeyTest::cli(ApikeyTls::cli_env($certs, "apikeyctl:ctlpw\@$address"),
                                   'revoke', $key->{id});
    is $status, 0, 'apikeyctl revoke through the TLS sentinel';
    ApikeyTopology::wait_until('the invalidation over TLS', 3, sub { key_status($nginx, $key) == 401 });
    is key_status($nginx, $key), 401, '... the cached key is refused at once (invalidation over TLS)';

    my $second = cli_create("apikeyctl:ctlpw\@$address", 'second');
    $sentinel->('SENTINEL', 'FAILOVER', 'tlsmaster');
    ApikeyTopology::wait_until('the failover', 20, sub {
        $sentinel->('SENTINEL', 'get-master-addr-by-name', 'tlsmaster') =~ /\n@{[ $replica->port ]}\n?$/
    });
    ApikeyTopology::wait_until('nginx to follow +switch-master over TLS', 10, sub {
        $nginx->error_log =~ /announced a new master/ && key_status($nginx, $second) == 200
    });
    like $nginx->error_log, qr/sentinel at "127\.0\.0\.1:$sport" announced a new master for "tlsmaster"/,
        'a failover is announced over the TLS subscription';
    is key_status($nginx, $second), 200, '... and checks go to the new master, over TLS';
    my @errors = grep { /\[error\].*(certificate|SSL|TLS)/ } split /\n/, $nginx->error_log;
    is scalar(@errors), 0, '... with no TLS error on the way' or diag join "\n", @errors;
    $nginx->stop;

    if (open my $p, '<', "$dir/sentinel.pid") {
        chomp(my $pid = <$p> // '');
        kill 'TERM', $pid if $pid;
    }
    $replica->stop;
    $master->stop;
}

# --- Cluster: three masters, TLS-only, the cluster bus over TLS too, and the
# least-privilege ACL users of README (the default user off): the module's
# user loads the slot map (CLUSTER SLOTS), apikeyctl's spreads the keys
{
    my $acl = ApikeyTls::acl_file();
    my @nodes;
    for (1 .. 3) {
        push @nodes, ApikeyTls::Redis->start(certs => $certs, admin => ['admin', 'adminpw'], args => [
            '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
            '--cluster-port', ApikeyTest::free_port(), '--cluster-node-timeout', '1000',
            '--tls-cluster', 'yes', '--tls-replication', 'yes', '--aclfile', $acl]);
    }
    my $list = join ' ', map { $_->address } @nodes;
    my $out = `redis-cli @{[ join ' ', ApikeyTls::redis_cli_args($certs) ]} --user admin --pass adminpw --no-auth-warning --cluster create $list --cluster-replicas 0 --cluster-yes 2>&1`;
    is $?, 0, 'a TLS-only cluster is created' or diag $out;
    ApikeyTopology::wait_until('the cluster to be ok', 30, sub {
        !grep { $_->cmd('CLUSTER', 'INFO') !~ /cluster_state:ok/ } @nodes
    });

    my $address = 'cluster=' . join(',', map { $_->address } @nodes[0, 1]);
    my @keys = map { cli_create("apikeyctl:ctlpw\@$address", "cluster key $_") } 1 .. 6;
    my %owner;
    for my $k (@keys) {
        my $slot = ApikeyTopology::key_slot("{$k->{id}}");
        for my $n (@nodes) {
            my $found = $n->cmd('CLUSTER', 'COUNTKEYSINSLOT', $slot);
            $owner{ $n->port }++ if $found && $found > 0;
        }
    }
    ok keys(%owner) >= 2, sprintf('the keys are spread over %d masters', scalar keys %owner);

    my $nginx = ApikeyTest::Nginx->start(redis_address => $address,
                                         redis_args => "user=apikey-module password=modulepw $tls_args");
    ApikeyTopology::wait_until('nginx to load the slot map over TLS', 5,
                               sub { key_status($nginx, $keys[0]) == 200 });
    is_deeply [map { key_status($nginx, $_) } @keys], [(200) x @keys],
        'cluster over TLS: every key is checked at the master that owns it';
    my @errors = grep { /\[error\]/ } split /\n/, $nginx->error_log;
    is scalar(@errors), 0, '... with no error line' or diag join "\n", @errors;
    $nginx->stop;

    my $wrong = ApikeyTest::Nginx->start(redis_address => $address,
                                         redis_args => "user=apikey-module password=modulepw tls tls_ca=$certs->{other_ca}");
    is key_status($wrong, $keys[0]), 503, 'cluster nodes with an untrusted certificate: 503';
    like $wrong->error_log, qr/its TLS certificate is not trusted/, '... and the reason is logged';
    $wrong->stop;
    $_->stop for @nodes;
}

done_testing;
