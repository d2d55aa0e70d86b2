# The harness itself: a test that fails half-way (dies, is interrupted, is
# killed outright) leaves no redis-server, nginx or fake Redis of its own
# behind.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use File::Temp qw(tempdir);
use POSIX ();
use ApikeyTest;

my $dir = tempdir(CLEANUP => 1);

# A test that starts a Redis, an nginx and a fake, says their pids, then ends
# the way it is told to.
my $child = <<'PERL';
use strict;
use warnings;
use Test::More;
use ApikeyTest;
use FakeRedis;
$| = 1;
my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(redis => $redis);
my $fake  = FakeRedis->start;
# a connection, so that the fake has a handler process too
my $s = IO::Socket::INET->new(PeerAddr => $fake->address, Proto => 'tcp') or die;
# (under load the fake's handler and nginx's worker may take a while to appear)
my (@fake, @workers);
for (1 .. 400) {
    @fake = split ' ', `pgrep -g $fake->{pid} 2>/dev/null`;
    @workers = $nginx->worker_pids;
    last if @fake >= 2 && @workers;
    sleep 0.05;
}
open my $f, '>', $ARGV[1] or die;
print $f join(' ', 'pids', $redis->pid, $nginx->master_pid, @workers, @fake), "\n";
close $f;
ok 1, 'started';
die "dying half-way, on purpose\n" if $ARGV[0] eq 'die';
sleep 60;
PERL

sub alive { grep { !ApikeyTest::gone($_) } @_ }

for my $end (qw(die TERM INT KILL)) {
    my $file = "$dir/$end";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        # its output goes nowhere: a process it leaves behind must not hold ours open
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        exec $^X, '-I', root() . '/t/lib', '-e', $child, $end, $file or POSIX::_exit(127);
    }
    my $until = time + 30;
    sleep 0.05 until -s $file || time > $until;
    sleep 0.05;
    my $line = do { local (@ARGV, $/) = $file; <> } // '';
    my @pids = $line =~ /^pids ((?:\d+ ?)+)$/ ? split ' ', $1 : ();
    cmp_ok scalar(@pids), '>=', 5, "$end: the test started redis, nginx (master, worker) and the fake"
        or diag $line;
    kill $end, $pid unless $end eq 'die';
    waitpid $pid, 0;
    $until = time + 20;
    sleep 0.1 while alive(@pids) && time < $until;
    is_deeply [alive(@pids)], [], "$end: none of its processes is left";
    kill 'KILL', alive(@pids);   # (only when the harness failed)
}

done_testing;
