# nginx -s reload and a binary upgrade with requests in flight: none lost or
# wrongly answered, and no Redis connection leaked.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(redis => $redis, workers => 2, location => 'apikey on;');
my $good = $redis->create_key(name => 'good', limits => ['100000r/s:100000']);
my $bad = with_checksum("ak_$good->{id}_" . ('Z' x 40));

sub clients { scalar grep { !/cmd=client/ } split /\n/, $redis->cmd('CLIENT', 'LIST') }

# steady traffic in the background: valid and wrong keys, results to a file
sub traffic {
    my ($file) = @_;
    my $pid = fork // die;
    return $pid if $pid;
    open my $out, '>', $file or die;
    $out->autoflush(1);
    # stopped by a file, not a signal: a signal would cut a request short
    while (!-e "$file.stop") {
        my $g = $nginx->get('/api/x', 'X-API-Key' => $good->{token});
        my $b = $nginx->get('/api/x', 'X-API-Key' => $bad);
        print $out "$g->{status} $b->{status}\n";
        for my $r ($g, $b) {
            printf STDERR "# no response at %.3f: [%s] %s\n", time, $r->{raw} // '', $r->{error} // ''
                unless $r->{status};
        }
    }
    POSIX::_exit(0);
}

sub stop_traffic {
    my ($pid, $file) = @_;
    open my $f, '>', "$file.stop" or die;
    close $f;
    waitpid $pid, 0;
}

sub results {
    my ($file) = @_;
    open my $f, '<', $file or die;
    my ($n, $wrong) = (0, 0);
    while (<$f>) {
        my ($g, $b) = split;
        $n++;
        next if $g == 200 && $b == 401;
        $wrong++;
        diag "wrong answers: valid key $g, invalid key $b";
    }
    return ($n, $wrong);
}

# Waits until the traffic in $file has answered $more more pairs: requests
# flow (however fast or slow this machine is).
sub flowing {
    my ($file, $more) = @_;
    my $lines = sub { open my $f, '<', $file or return 0; my @l = <$f>; scalar @l };
    my $from = $lines->();
    return poll_until(30, sub { $lines->() >= $from + $more });
}

poll_until(10, sub { clients() >= 2 });
my $before = clients();
is $before, 2, 'one Redis connection per worker';

my $dir = $nginx->dir;
my $pid = traffic("$dir/reload.txt");
my $flowed = 0;
for (1 .. 20) {
    $nginx->reload;
    $flowed++ if flowing("$dir/reload.txt", 2);
}
stop_traffic($pid, "$dir/reload.txt");
my ($n, $wrong) = results("$dir/reload.txt");
is $flowed, 20, "requests kept flowing through 20 reloads (two pairs answered after each; $n pairs)";
is $wrong, 0, 'none lost or wrongly answered (valid 200, invalid 401)';

# old workers finish their requests, then close their connections
my $after;
poll_until(30, sub { ($after = clients()) == $before });
is $after, $before, "no Redis connection leaked ($before before, $after after 20 reloads)";

# binary upgrade: USR2 starts a new master, WINCH retires the old workers, QUIT the old master
$pid = traffic("$dir/upgrade.txt");
my $old = $nginx->master_pid;
kill 'USR2', $old;
my $new;
poll_until(30, sub { ($new = $nginx->master_pid) && $new != $old && -e "$dir/nginx.pid.oldbin" });
ok $new && $new != $old, 'a new master started';
ok poll_until(30, sub { `pgrep -P $new` =~ /\d/ }), '... with its workers';
ok flowing("$dir/upgrade.txt", 2), 'requests flow with both sets of workers';
kill 'WINCH', $old;
# (the new master is a child of the old one too)
ok poll_until(30, sub { !grep { $_ != $new } split ' ', `pgrep -P $old` }), 'WINCH: the old workers left';
ok flowing("$dir/upgrade.txt", 2), 'requests flow through the new workers';
kill 'QUIT', $old;
poll_until(30, sub { !kill 0, $old });
ok !kill(0, $old), 'the old master left';
ok flowing("$dir/upgrade.txt", 2), 'requests flow after it';
stop_traffic($pid, "$dir/upgrade.txt");
($n, $wrong) = results("$dir/upgrade.txt");
is $wrong, 0, "none of $n pairs lost or wrongly answered";
poll_until(30, sub { ($after = clients()) == $before });
is $after, $before, 'no Redis connection leaked by the upgrade';

$nginx->stop;
done_testing;
