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

sleep 0.3;
my $before = clients();
is $before, 2, 'one Redis connection per worker';

my $dir = $nginx->dir;
my $pid = traffic("$dir/reload.txt");
for (1 .. 20) {
    $nginx->reload;
    sleep 0.15;
}
sleep 0.5;
stop_traffic($pid, "$dir/reload.txt");
my ($n, $wrong) = results("$dir/reload.txt");
ok $n > 50, "requests kept flowing through 20 reloads ($n pairs)";
is $wrong, 0, 'none lost or wrongly answered (valid 200, invalid 401)';

my $after;
for (1 .. 50) {   # old workers finish their requests, then close their connections
    $after = clients();
    last if $after == $before;
    sleep 0.1;
}
is $after, $before, "no Redis connection leaked ($before before, $after after 20 reloads)";

# binary upgrade: USR2 starts a new master, WINCH retires the old workers, QUIT the old master
$pid = traffic("$dir/upgrade.txt");
my $old = $nginx->master_pid;
kill 'USR2', $old;
my $new;
for (1 .. 100) {
    $new = $nginx->master_pid;
    last if $new && $new != $old && -e "$dir/nginx.pid.oldbin";
    sleep 0.05;
}
ok $new && $new != $old, 'a new master started';
sleep 0.5;
kill 'WINCH', $old;
sleep 0.5;
kill 'QUIT', $old;
for (1 .. 100) { last unless kill 0, $old; sleep 0.05 }
ok !kill(0, $old), 'the old master left';
sleep 0.3;
stop_traffic($pid, "$dir/upgrade.txt");
($n, $wrong) = results("$dir/upgrade.txt");
ok $n > 20, "requests kept flowing through the upgrade ($n pairs)";
is $wrong, 0, 'none lost or wrongly answered';
for (1 .. 50) {
    $after = clients();
    last if $after == $before;
    sleep 0.1;
}
is $after, $before, 'no Redis connection leaked by the upgrade';

$nginx->stop;
done_testing;
