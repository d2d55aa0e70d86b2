# Redis Cluster: six real nodes (three masters, three replicas) created with
# redis-cli --cluster create on loopback ports. Keys spread over every master;
# verification and rate limits hold on each; a reshard under load (MOVED), a
# slot migrated by hand step by step (ASK, TRYAGAIN, then MOVED) and a killed
# master whose replica is promoted, all without a wrong answer.
use strict;
use warnings;
use lib 't/lib';
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);
use ApikeyTest;
use ApikeyTopology;

my $timeout_ms = 500;
my $c = ApikeyTopology::Cluster->start;
my @masters = $c->masters;
is scalar(@masters), 3, 'three masters';

sub slot_of { ApikeyTopology::key_slot("{$_[0]{id}}") }
sub owner_of { $c->owner(slot_of($_[0])) }

# keys until every master owns two steady keys and one limited key
my (%steady, %limited);
for my $i (1 .. 80) {
    my $limit = $i % 2;
    # steady keys: a bucket that never runs out in this test but exists for
    # a minute after each request (its keys are all there when a slot moves)
    my $key = $c->create_key(name => "key $i", limits => [$limit ? '1r/m:3' : '1r/m:100000']);
    my $owner = owner_of($key)->address;
    my $pool = $limit ? \%limited : \%steady;
    push @{ $pool->{$owner} }, $key if @{ $pool->{$owner} // [] } < ($limit ? 1 : 2);
    last if 3 == grep { @{ $steady{$_->address} // [] } == 2 && @{ $limited{$_->address} // [] } == 1 }
                     @masters;
}
for my $m (@masters) {
    is scalar @{ $steady{ $m->address } // [] }, 2, 'apikeyctl spread keys over master ' . $m->address;
}
my @steady = map { @{ $steady{ $_->address } } } @masters;

# apikeyctl list and delete reach every master
my ($status, $out) = $c->cli('list', '--json');
my $listed = ApikeyTest::json_of($out) // [];
my %on = map { $_->{id} => 1 } @$listed;
ok $status == 0 && !grep({ !$on{ $_->{id} } } @steady, map { @$_ } values %limited),
    'apikeyctl list --json shows the keys of every master';
{
    my $doomed = $c->create_key(name => 'doomed');
    ($status) = $c->cli('delete', $doomed->{id});
    is $status, 0, 'apikeyctl delete on a cluster';
    is owner_of($doomed)->cmd('EXISTS', "apikey:key:{$doomed->{id}}"), 0, '... removed the record from its master';
}

my $nginx = ApikeyTest::Nginx->start(
    apikey_redis => "apikey_redis @{[ $c->address ]};",
    http => "apikey_redis_timeout ${timeout_ms}ms;",
    location => 'apikey on; apikey_limit 60000r/m burst=1000;',
    workers => 2,
    server => 'location = /metrics { apikey_metrics; } location /admin/ { apikey_admin auth=off; }');

sub get_key { $nginx->get('/api/x', 'X-API-Key' => $_[0]{token}) }

# the id of the master that $node's CLUSTER NODES gives $slot to ('' if none)
sub slot_owner_seen_by {
    my ($node, $slot) = @_;
    for my $row (split /\n/, $node->cmd('CLUSTER', 'NODES') // '') {
        my ($id, undef, $flags, undef, undef, undef, undef, undef, @slots) = split ' ', $row;
        next unless $flags =~ /master/;
        for my $range (grep { !/^\[/ } @slots) {
            my ($lo, $hi) = split /-/, $range;
            return $id if $slot >= $lo && $slot <= ($hi // $lo);
        }
    }
    return '';
}

# whether $node's CLUSTER NODES shows every master with its own config epoch
sub distinct_master_epochs {
    my ($node) = @_;
    my %seen;
    for my $row (split /\n/, $node->cmd('CLUSTER', 'NODES') // '') {
        my (undef, undef, $flags, undef, undef, undef, $epoch) = split ' ', $row;
        next unless $flags =~ /master/;
        return 0 if $seen{$epoch}++;
    }
    return scalar keys %seen;
}

# what a failed cluster assertion needs to be understood afterwards: the
# answer, every node's view of the cluster and the module's recent log lines
sub explain_cluster {
    my ($what, $response) = @_;
    diag "$what: got $response->{status} $response->{body}";
    for my $node ($c->nodes) {
        diag "CLUSTER NODES from " . $node->address . ":\n" . ($node->cmd('CLUSTER', 'NODES') // '(no answer)');
    }
    my @lines = grep { /apikey|cluster|redis/i && !/\[debug\]/ } split /\n/, $nginx->error_log;
    diag join "\n", @lines[-20 .. -1] if @lines >= 20;
    diag join "\n", @lines if @lines < 20;
}
sub metric {
    my ($name) = @_;
    my $body = $nginx->get('/metrics')->{body};
    return $body =~ /^\Q$name\E (\d+)/m ? $1 : -1;
}

ApikeyTopology::wait_until('nginx to load the slot map', 5,
                           sub { !grep { get_key($_)->{status} != 200 } @steady });

# the key hygiene count walks every master with SCAN
{
    my $active;
    ApikeyTest::poll_until(20, sub {
        ($active) = $nginx->get('/metrics')->{body} =~ /^apikey_keys\{status="active"\} (\d+)$/m;
        defined $active && $active == @$listed;
    });
    is $active, scalar @$listed, 'apikey_keys counts the keys of every master';
}

# --- every slot's master verifies and limits
for my $m (@masters) {
    my $a = $m->address;
    for my $key (@{ $steady{$a} }) {
        is get_key($key)->{status}, 200, "key on $a is verified";
        is $m->cmd('EXISTS', "apikey:bucket:{$key->{id}}:default"), 1, "... and its bucket is on $a";
    }
    my $key = $limited{$a}[0];
    is_deeply [map { get_key($key)->{status} } 1 .. 5], [200, 200, 200, 429, 429],
        "rate limit on $a: burst 3, then 429";
}
is $nginx->get('/api/x', 'X-API-Key' => ApikeyTest::with_checksum('ak_bbbbbbbbbbbb_' . 'B' x 40))->{status},
    401, 'an unknown key is 401';

# --- the admin API writes a change and its audit event in one script: not
# possible across a cluster's slots, so it says so
{
    my $res = $nginx->get('/admin/keys');
    is $res->{status}, 503, 'admin API on a cluster: 503';
    like $res->{body}, qr/not available on Redis Cluster; use apikeyctl/, '... saying why and what to use';
}

# --- load: a child sends requests for the steady keys until told to stop;
# every status goes to a file
sub start_load {
    my ($file) = @_;
    my $pid = fork // die;
    if ($pid == 0) {
        open my $out, '>', $file or POSIX::_exit(1);
        $out->autoflush(1);
        my $stop = 0;
        $SIG{TERM} = sub { $stop = 1 };
        my $i = 0;
        while (!$stop) {
            my $key = $steady[$i++ % @steady];
            my $t = time;
            my $res = get_key($key);
            last if $stop;   # cut short by the signal
            printf $out "%s %d %.3f\n", $key->{id}, $res->{status}, time - $t;
        }
        close $out;
        POSIX::_exit(0);
    }
    return $pid;
}
sub stop_load {
    my ($pid, $file) = @_;
    kill 'TERM', $pid;
    waitpid $pid, 0;
    open my $f, '<', $file or die;
    return map { [split ' '] } <$f>;
}
my $dir = $nginx->dir;

# --- 1. reshard under load: the lowest slots of one master, including a key's
my ($from) = grep { @{ $steady{ $_->address } } } @masters;
my ($to) = grep { $_ != $from } @masters;
my ($moving) = sort { slot_of($a) <=> slot_of($b) } @{ $steady{ $from->address } };
my ($first_slot) = $c->table->{ $from->address }{slots}[0] =~ /^(\d+)/;
my $count = slot_of($moving) - $first_slot + 1;
my $moved_before = metric('apikey_redis_redirects_total{kind="moved"}');

my $load = start_load("$dir/reshard.load");
sleep 0.3;
my $reshard = `redis-cli --cluster reshard @{[ $from->address ]} --cluster-from @{[ $c->id_of($from) ]} --cluster-to @{[ $c->id_of($to) ]} --cluster-slots $count --cluster-yes 2>&1`;
is $?, 0, "redis-cli --cluster reshard moved $count slots" or diag $reshard;
sleep 0.5;
my @results = stop_load($load, "$dir/reshard.load");
is owner_of($moving)->address, $to->address, "the key's slot is on the other master now";
my @bad = grep { $_->[1] != 200 } @results;
ok @results > 50 && !@bad, sprintf('reshard under load: %d requests, all 200', scalar @results)
    or diag explain [@bad[0 .. ($#bad < 4 ? $#bad : 4)]];
cmp_ok metric('apikey_redis_redirects_total{kind="moved"}'), '>', $moved_before,
    'MOVED was followed (apikey_redis_redirects_total{kind="moved"})';
is get_key($moving)->{status}, 200, 'the moved key is verified on its new master';

# --- 2. one slot migrated by hand: ASK while the keys are on the target,
# TRYAGAIN while they are split, MOVED once the slot is handed over
{
    my ($key) = grep { owner_of($_)->address eq $to->address } @steady;
    my $slot = slot_of($key);
    my ($src, $dst) = ($to, grep { $_ != $to } @masters);
    my ($src_id, $dst_id) = ($c->id_of($src), $c->id_of($dst));
    $dst->cmd('CLUSTER', 'SETSLOT', $slot, 'IMPORTING', $src_id);
    $src->cmd('CLUSTER', 'SETSLOT', $slot, 'MIGRATING', $dst_id);
    is get_key($key)->{status}, 200, 'migrating slot, keys still on the source: answered there';

    my $record = "apikey:key:{$key->{id}}";
    my $bucket = "apikey:bucket:{$key->{id}}:default";
    my $ask_before = metric('apikey_redis_redirects_total{kind="ask"}');
    my $tryagain_before = metric('apikey_redis_redirects_total{kind="tryagain"}');

    # the record alone first: the check's keys are split between the nodes
    like $src->cmd('MIGRATE', '127.0.0.1', $dst->port, '', 0, 5000, 'KEYS', $record), qr/OK/,
        'the record migrated alone';
    # a migration that stalls: the check waits out TRYAGAIN until the timeout
    my $timeouts_before = metric('apikey_redis_timeouts_total');
    is get_key($key)->{status}, 503, 'a slot split for longer than apikey_redis_timeout: 503';
    is metric('apikey_redis_timeouts_total'), $timeouts_before + 1, 'answered by the timeout';

    my $sock = $nginx->send_request('GET', '/api/x', 'X-API-Key' => $key->{token});
    sleep 0.1;
    like $src->cmd('MIGRATE', '127.0.0.1', $dst->port, '', 0, 5000, 'KEYS', $bucket), qr/OK/,
        'then the bucket';
    is $nginx->read_response($sock)->{status}, 200, 'a check that met a split slot was answered once it was whole';
    cmp_ok metric('apikey_redis_redirects_total{kind="tryagain"}'), '>', $tryagain_before,
        'TRYAGAIN was retried (apikey_redis_redirects_total{kind="tryagain"})';

    is get_key($key)->{status}, 200, 'keys on the importing node: answered after ASK';
    cmp_ok metric('apikey_redis_redirects_total{kind="ask"}'), '>', $ask_before,
        'ASK was followed (apikey_redis_redirects_total{kind="ask"})';

    my $moved_before = metric('apikey_redis_redirects_total{kind="moved"}');
    # Two masters with one config epoch (section 1's reshard can leave that
    # until gossip settles it) resolve it by bumping the one with the lower
    # id; were that the old owner, its replica's stale claim would then win
    # the slot back from the new owner. Hand over once the epochs differ.
    ok eval {
        ApikeyTopology::wait_until('the masters to have distinct config epochs', 10, sub {
            !grep { !distinct_master_epochs($_) } $c->live_nodes
        });
    }, 'the masters have distinct config epochs' or explain_cluster($@, { status => '-', body => '' });
    $_->cmd('CLUSTER', 'SETSLOT', $slot, 'NODE', $dst_id) for $dst, $src, grep { $_ != $dst && $_ != $src } @masters;
    # the nodes settle the new owner's config epoch by gossip; what is tested
    # below is how the module follows the cluster once it agrees
    ok eval {
        ApikeyTopology::wait_until("every node to name the slot's new owner", 10, sub {
            !grep { slot_owner_seen_by($_, $slot) ne $dst_id } $c->live_nodes
        });
    }, "every node names the slot's new owner" or explain_cluster($@, { status => '-', body => '' });
    my $handed = get_key($key);
    is $handed->{status}, 200, 'slot handed over: answered by the new owner'
        or explain_cluster("slot $slot handed to " . $dst->address, $handed);
    cmp_ok metric('apikey_redis_redirects_total{kind="moved"}'), '>', $moved_before,
        'MOVED from the old owner once the slot is handed over';
    is $dst->cmd('EXISTS', $bucket), 1, 'the bucket lives on the new owner'
        or explain_cluster("bucket of slot $slot on " . $dst->address, $handed);
}

# --- 3. a master killed: its replica is promoted; other masters never fail
{
    my ($victim) = grep { @{ $steady{ $_->address } } } $c->masters;
    my @victim_keys = grep { owner_of($_)->address eq $victim->address } @steady;
    my $replica = $c->replica_of($victim);
    ok $replica, 'the master to kill has a replica';
    ok @victim_keys, 'and owns some of the keys';
    my $load = start_load("$dir/failover.load");
    sleep 0.3;
    $victim->crash;
    ApikeyTopology::wait_until('the replica to be promoted', 20,
                               sub { $c->owner(slot_of($victim_keys[0]))->address eq $replica->address });
    # answers for the victim's keys again, then a little more load
    ApikeyTopology::wait_until('nginx to use the promoted replica', 10,
                               sub { get_key($victim_keys[0])->{status} == 200 });
    sleep 0.5;
    my @results = stop_load($load, "$dir/failover.load");
    my %victim = map { $_->{id} => 1 } @victim_keys;
    my @others = grep { !$victim{ $_->[0] } } @results;
    my @mine = grep { $victim{ $_->[0] } } @results;
    ok @others && !grep({ $_->[1] != 200 } @others),
        sprintf('keys on the other masters: %d requests, all 200', scalar @others);
    my @wrong = grep { $_->[1] != 200 && $_->[1] != 503 } @mine;
    ok !@wrong, "keys on the killed master: only 200 or 503" or diag explain [@wrong[0 .. 2]];
    my ($slowest) = sort { $b <=> $a } map { $_->[2] } @results;
    ok $slowest < $timeout_ms / 1000 + 0.25, sprintf('no request waited past the timeout (slowest %.3f s)', $slowest);
    note sprintf 'killed master: %d of %d requests for its keys refused with 503 during the failover',
        scalar(grep { $_->[1] == 503 } @mine), scalar @mine;
    is get_key($_)->{status}, 200, 'key of the killed master answered by the promoted replica' for @victim_keys;

    # the dead node serves no slot now: no worker keeps reconnecting to it
    sleep 0.5;
    my $reconnects = metric('apikey_redis_reconnects_total');
    sleep 1.5;
    is metric('apikey_redis_reconnects_total'), $reconnects,
        'no reconnecting to the dead master once the map no longer names it';

    ($status) = $c->cli('revoke', $victim_keys[0]{id});
    is $status, 0, 'apikeyctl revoke after the failover';
    is get_key($victim_keys[0])->{status}, 401, 'the revoked key is refused';
}

$nginx->stop;
$c->stop;
done_testing;
