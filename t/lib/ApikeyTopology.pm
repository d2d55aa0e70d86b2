package ApikeyTopology;

# Real Redis topologies for t/5*.t, on loopback ports, started and stopped by
# the tests themselves:
#
#   my $s = ApikeyTopology::Sentinels->start(name => 'mymaster');   # master,
#           # one replica, three sentinels
#   $s->address       # "sentinel=127.0.0.1:P1,... master=mymaster"
#   $s->master        # the ApikeyTest::Redis the sentinels name now
#
#   my $c = ApikeyTopology::Cluster->start;   # 3 masters + 3 replicas
#   $c->address       # "cluster=127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3"
#   $c->owner(slot)   # the ApikeyTest::Redis serving a slot now

use strict;
use warnings;
use File::Temp qw(tempdir);
use JSON::PP;
use Time::HiRes qw(sleep time);
use ApikeyTest;

# Polls $check until it returns true; dies with $what after $seconds.
sub wait_until {
    my ($what, $seconds, $check) = @_;
    my $until = time + $seconds;
    while (time < $until) {
        my $ok = eval { $check->() };
        return $ok if $ok;
        sleep 0.1;
    }
    die "timed out waiting for $what\n";
}

# CLUSTER KEYSLOT without a server: CRC16/XMODEM of the hash tag, mod 16384.
sub key_slot {
    my ($key) = @_;
    $key = $1 if $key =~ /\{([^}]+)\}/;
    my $crc = 0;
    for my $byte (unpack 'C*', $key) {
        $crc ^= $byte << 8;
        for (1 .. 8) {
            $crc = $crc & 0x8000 ? (($crc << 1) ^ 0x1021) & 0xFFFF : ($crc << 1) & 0xFFFF;
        }
    }
    return $crc % 16384;
}


package ApikeyTopology::Sentinels;

use strict;
use warnings;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);

sub start {
    my ($class, %opt) = @_;
    my $name = $opt{name} // 'mymaster';
    my $self = bless { name => $name, sentinels => [], nodes => [] }, $class;

    my $master = ApikeyTest::Redis->start;
    my $replica = ApikeyTest::Redis->start(args => ['--replicaof', '127.0.0.1', $master->port]);
    $self->{nodes} = [$master, $replica];
    ApikeyTopology::wait_until('the replica to sync', 10, sub {
        $replica->cmd('INFO', 'replication') =~ /master_link_status:up/
    });

    for (1 .. 3) {
        my $dir = tempdir(CLEANUP => 1);
        my $port = ApikeyTest::free_port();
        open my $f, '>', "$dir/sentinel.conf" or die;
        print $f <<"EOF";
port $port
bind 127.0.0.1
daemonize yes
pidfile $dir/sentinel.pid
logfile $dir/sentinel.log
dir $dir
sentinel monitor $name 127.0.0.1 @{[ $master->port ]} 2
sentinel down-after-milliseconds $name 1000
sentinel failover-timeout $name 4000
sentinel parallel-syncs $name 1
EOF
        close $f;
        system('redis-server', "$dir/sentinel.conf", '--sentinel') == 0
            or die 'redis-sentinel failed to start';
        ApikeyTest::track(pidfile => "$dir/sentinel.pid");
        ApikeyTest::wait_for_port($port) or die 'redis-sentinel not listening';
        push @{ $self->{sentinels} }, { port => $port, dir => $dir };
    }

    # a failover needs the sentinels to know the replica and each other
    ApikeyTopology::wait_until('the sentinels to find each other and the replica', 20, sub {
        for my $s (@{ $self->{sentinels} }) {
            my $info = $self->sentinel_cmd($s, 'SENTINEL', 'MASTER', $name);
            return 0 unless $info =~ /num-other-sentinels\n2\n/ && $info =~ /num-slaves\n1\n/;
        }
        1;
    });
    return $self;
}

sub name { $_[0]{name} }

sub sentinel_cmd {
    my ($self, $s, @args) = @_;
    open my $p, '-|', 'redis-cli', '-p', $s->{port}, @args or die;
    local $/;
    my $out = <$p> // '';
    close $p;
    $out =~ s/\n\z//;
    return $out;
}

sub sentinel_ports { map { $_->{port} } @{ $_[0]{sentinels} } }

sub address {
    my ($self) = @_;
    return 'sentinel=' . join(',', map { "127.0.0.1:$_" } $self->sentinel_ports)
         . " master=$self->{name}";
}

# What the first sentinel that answers says the master is: "127.0.0.1:port".
sub master_address {
    my ($self) = @_;
    for my $s (@{ $self->{sentinels} }) {
        my $out = $self->sentinel_cmd($s, 'SENTINEL', 'get-master-addr-by-name', $self->{name});
        my ($host, $port) = split /\n/, $out;
        return "$host:$port" if $port && $port =~ /^\d+$/;
    }
    return '';
}

sub master {
    my ($self) = @_;
    my $address = $self->master_address;
    my ($node) = grep { $_->address eq $address } @{ $self->{nodes} };
    return $node;
}

sub replica {
    my ($self) = @_;
    my $address = $self->master_address;
    my ($node) = grep { $_->address ne $address } @{ $self->{nodes} };
    return $node;
}

sub cli {
    my ($self, @args) = @_;
    return ApikeyTest::cli({ APIKEY_REDIS => $self->address }, @args);
}

sub create_key {
    my ($self, %opt) = @_;
    my @args = ('create', '--json', '--name', $opt{name} // 'test key');
    push @args, map { ('--limit', $_) } @{ $opt{limits} // [] };
    my ($status, $out, $err) = $self->cli(@args);
    die "apikeyctl create failed ($status): $err" if $status != 0;
    return JSON::PP->new->utf8->decode($out);
}

# SENTINEL FAILOVER, then waits until the sentinels name another master.
sub failover {
    my ($self) = @_;
    my $before = $self->master_address;
    $self->sentinel_cmd($self->{sentinels}[0], 'SENTINEL', 'FAILOVER', $self->{name});
    ApikeyTopology::wait_until('the failover', 20, sub { $self->master_address ne $before });
}

sub stop {
    my ($self) = @_;
    for my $s (@{ $self->{sentinels} }) {
        if (open my $f, '<', "$s->{dir}/sentinel.pid") {
            chomp(my $pid = <$f> // '');
            kill 'TERM', $pid if $pid;
        }
    }
    $_->stop for grep { defined } @{ $self->{nodes} };
    $self->{sentinels} = [];
}

sub DESTROY { $_[0]->stop }


package ApikeyTopology::Cluster;

use strict;
use warnings;
use Time::HiRes qw(sleep time);

# Six nodes, three masters with one replica each, node timeout 1 s. Slots of
# a master that is down stay unserved while the others go on
# (cluster-require-full-coverage no, as README recommends).
sub start {
    my ($class, %opt) = @_;
    my $self = bless { nodes => [] }, $class;
    for (1 .. 6) {
        push @{ $self->{nodes} }, ApikeyTest::Redis->start(args => [
            '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
            '--cluster-node-timeout', '1000', '--cluster-require-full-coverage', 'no',
            '--cluster-allow-replica-migration', 'no',
            # a replica may be promoted however long ago it last heard from
            # its master (the default refuses after 10 node timeouts)
            '--cluster-replica-validity-factor', '0']);
    }
    my $out = `redis-cli --cluster create @{[ map { $_->address } @{ $self->{nodes} } ]} --cluster-replicas 1 --cluster-yes 2>&1`;
    die "redis-cli --cluster create failed:\n$out" if $? != 0;
    $self->wait_healthy;
    return $self;
}

sub nodes { @{ $_[0]{nodes} } }

sub wait_healthy {
    my ($self) = @_;
    ApikeyTopology::wait_until('the cluster to be ok on every node', 30, sub {
        for my $n ($self->live_nodes) {
            return 0 unless $n->cmd('CLUSTER', 'INFO') =~ /cluster_state:ok/;
            my $role = $n->cmd('INFO', 'replication');
            return 0 if $role =~ /role:slave/ && $role !~ /master_link_status:up/;
        }
        scalar($self->masters) == 3;
    });
}

sub live_nodes { grep { $_->{pid} } @{ $_[0]{nodes} } }

# CLUSTER NODES of a live node: { address => [id, flags, slots...] }
sub table {
    my ($self) = @_;
    my ($n) = $self->live_nodes;
    my %t;
    for my $line (split /\n/, $n->cmd('CLUSTER', 'NODES')) {
        my ($id, $addr, $flags, $master, undef, undef, undef, $link, @slots) = split ' ', $line;
        $addr =~ s/@.*//;
        $t{$addr} = { id => $id, flags => $flags, master => $master, link => $link,
                      slots => \@slots };
    }
    return \%t;
}

sub node_of {
    my ($self, $address) = @_;
    my ($n) = grep { $_->address eq $address } @{ $self->{nodes} };
    return $n;
}

sub id_of { $_[0]->table->{ $_[1]->address }{id} }

sub masters {
    my ($self) = @_;
    my $t = $self->table;
    return map { $self->node_of($_) }
           grep { $t->{$_}{flags} =~ /master/ && $t->{$_}{flags} !~ /fail/ && @{ $t->{$_}{slots} } }
           sort keys %$t;
}

sub replica_of {
    my ($self, $master) = @_;
    my $t = $self->table;
    my $id = $t->{ $master->address }{id};
    my ($addr) = grep { $t->{$_}{master} eq $id } keys %$t;
    return $addr ? $self->node_of($addr) : undef;
}

sub owner {
    my ($self, $slot) = @_;
    my ($n) = $self->live_nodes;
    for my $row (split /\n/, $n->cmd('CLUSTER', 'NODES')) {
        my ($id, $addr, $flags, undef, undef, undef, undef, undef, @slots) = split ' ', $row;
        next unless $flags =~ /master/ && $flags !~ /fail/;
        $addr =~ s/@.*//;
        for my $range (@slots) {
            next if $range =~ /^\[/;   # a migration in progress
            my ($lo, $hi) = split /-/, $range;
            $hi //= $lo;
            return $self->node_of($addr) if $slot >= $lo && $slot <= $hi;
        }
    }
    return undef;
}

sub address {
    my ($self) = @_;
    my @seeds = (@{ $self->{nodes} })[0 .. 2];
    return 'cluster=' . join(',', map { $_->address } @seeds);
}

sub cli {
    my ($self, @args) = @_;
    return ApikeyTest::cli({ APIKEY_REDIS => $self->address }, @args);
}

sub create_key {
    my ($self, %opt) = @_;
    my @args = ('create', '--json', '--name', $opt{name} // 'test key');
    push @args, map { ('--limit', $_) } @{ $opt{limits} // [] };
    my ($status, $out, $err) = $self->cli(@args);
    die "apikeyctl create failed ($status): $err" if $status != 0;
    return JSON::PP->new->utf8->decode($out);
}

sub stop {
    my ($self) = @_;
    $_->stop for grep { defined } @{ $self->{nodes} };
}

sub DESTROY { $_[0]->stop }

1;
