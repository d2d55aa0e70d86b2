# Redis Sentinel: a master, one replica and three sentinels, all real, on
# loopback ports. nginx and apikeyctl are given the sentinels, never the
# master. The master is failed over twice (SENTINEL FAILOVER, then a killed
# master): requests keep being answered, failing (503, never 401/403/429)
# only during the switch and never for longer than apikey_redis_timeout, and
# a key's bucket carries over as far as replication allows.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep time);
use ApikeyTest;
use ApikeyTopology;

my $timeout_ms = 300;
my $s = ApikeyTopology::Sentinels->start(name => 'mymaster');

# apikeyctl through the sentinels
my $steady = $s->create_key(name => 'steady');
my $limited = $s->create_key(name => 'limited', limits => ['1r/m:5']);
like $s->master->cmd('HGET', "apikey:key:{$steady->{id}}", 'name'), qr/^steady$/,
    'apikeyctl wrote to the master the sentinels name';
my ($status, $out) = $s->cli('list', '--json');
is $status, 0, 'apikeyctl list through the sentinels';

my $nginx = ApikeyTest::Nginx->start(
    apikey_redis => "apikey_redis @{[ join ' ', $s->address ]};",
    http => "apikey_redis_timeout ${timeout_ms}ms;",
    # the steady key's loops must never empty its bucket: an nginx without
    # debug logging (make test-matrix's builds) answers thousands a second
    location => 'apikey on; apikey_limit 6000000r/m burst=100000;',
    server => 'location = /metrics { apikey_metrics; } location /admin/ { apikey_admin auth=off; }');

sub get_key { $nginx->get('/api/x', 'X-API-Key' => $_[0]{token}) }

ApikeyTopology::wait_until('nginx to find the master', 5, sub { get_key($steady)->{status} == 200 });
is get_key($steady)->{status}, 200, 'a key is verified through the master the sentinels name';
is $nginx->get('/api/x', 'X-API-Key' => ApikeyTest::with_checksum('ak_aaaaaaaaaaaa_' . 'A' x 40))->{status},
    401, 'an unknown key is 401';

# Requests in a loop from `start` until the master has changed and 20
# answers in a row were 200; returns statuses and the slowest request.
sub through_switch {
    my ($start) = @_;
    my $before = $s->master_address;
    $start->();
    my (%count, $slowest, $streak, $changed_at);
    my $until = time + 30;
    $slowest = 0;
    $streak = 0;
    while (time < $until) {
        my $t = time;
        my $res = get_key($steady);
        my $took = time - $t;
        $slowest = $took if $took > $slowest;
        $count{ $res->{status} }++;
        $streak = $res->{status} == 200 ? $streak + 1 : 0;
        $changed_at //= time if $s->master_address ne $before;
        last if $changed_at && $streak >= 20 && time - $changed_at > 0.5;
        sleep 0.01;
    }
    return (\%count, $slowest, $changed_at);
}

sub check_switch {
    my ($what, $count, $slowest, $changed_at) = @_;
    ok $changed_at, "$what: the sentinels named a new master";
    my @wrong = grep { $_ != 200 && $_ != 503 } keys %$count;
    ok !@wrong, "$what: every answer was 200 or 503 (never 401, 403 or 429)"
        or diag explain $count;
    ok $slowest < $timeout_ms / 1000 + 0.25, sprintf('%s: no request waited past the timeout (slowest %.3f s)',
                                                 $what, $slowest);
    ok $count->{200} >= 20, "$what: answered again after the switch";
    note sprintf '%s: %d answered, %d refused with 503 during the switch', $what,
        $count->{200} // 0, $count->{503} // 0;
}

# --- the bucket before the failover: 3 of 5 taken, replicated (WAIT)
is get_key($limited)->{status}, 200, "limited key: request $_" for 1 .. 3;
is $s->master->cmd('WAIT', 1, 2000), 1, 'the bucket has reached the replica';

# --- 1. SENTINEL FAILOVER
my $old_master = $s->master;
check_switch('SENTINEL FAILOVER', through_switch(sub {
    $s->sentinel_cmd($s->{sentinels}[0], 'SENTINEL', 'FAILOVER', 'mymaster');
}));
isnt $s->master_address, $old_master->address, 'the replica is the master now';

is get_key($limited)->{status}, 200, 'limited key after failover: request 4 passes';
is get_key($limited)->{status}, 200, 'limited key after failover: request 5 passes';
is get_key($limited)->{status}, 429, 'limited key after failover: request 6 is refused: the bucket carried over';

like $nginx->get('/metrics')->{body}, qr/^apikey_redis_master_switches_total [1-9]/m,
    'the switch is counted';

# the demoted master must sync from the new one before it can be promoted back
ApikeyTopology::wait_until('the old master to replicate the new one', 20, sub {
    $old_master->cmd('INFO', 'replication') =~ /role:slave.*master_link_status:up/s
});
ApikeyTopology::wait_until('the sentinels to list the old master as a replica', 20, sub {
    $s->sentinel_cmd($s->{sentinels}[0], 'SENTINEL', 'MASTER', 'mymaster') =~ /num-slaves\n1\n/
});

# --- 2. the master killed outright
my $killed = $s->master;
check_switch('master killed', through_switch(sub { $killed->crash }));
is $s->master_address, $old_master->address, 'the first master is master again';

# --- the admin API writes to the master of the moment
{
    my $res = $nginx->request('POST', '/admin/keys', ':body' => '{"name":"over http"}',
                              'Content-Type' => 'application/json');
    is $res->{status}, 201, 'admin API through the sentinels: key created';
    my $made = ApikeyTest::json_of($res->{body}) // {};
    is get_key($made)->{status}, 200, '... and it works';
}

# --- reloads under load: each new worker holds its first checks until a
# sentinel has named the master, so none is refused
{
    my $file = $nginx->dir . '/reload.load';
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open my $out, '>', $file or die;
        my $stop = 0;
        $SIG{TERM} = sub { $stop = 1 };
        while (!$stop) {
            my $res = get_key($steady);
            print $out "$res->{status}\n" unless $stop;
        }
        close $out;
        POSIX::_exit(0);
    }
    for (1 .. 5) {
        sleep 0.3;
        $nginx->reload;
    }
    sleep 0.5;
    kill 'TERM', $pid;
    waitpid $pid, 0;
    open my $f, '<', $file or die;
    my %count;
    $count{ 0 + $_ }++ for grep { /\d/ } <$f>;
    ok $count{200} && keys %count == 1, sprintf('5 reloads under load: %d requests, all 200', $count{200} // 0)
        or diag explain \%count;
}

# --- changes through apikeyctl reach the new master and nginx
($status) = $s->cli('revoke', $steady->{id});
is $status, 0, 'apikeyctl revoke through the sentinels after two failovers';
is get_key($steady)->{status}, 401, 'the revoked key is refused at once';

$nginx->stop;
$s->stop;
done_testing;
