# Per-key usage on a Redis Cluster: each key's counts go to the master of the
# key's slot (the {<id>} tag), and apikeyctl usage, usage --owner and limits
# --reset read and write them there.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX qw(strftime);
use ApikeyTest;
use ApikeyTopology;

my $c = ApikeyTopology::Cluster->start;
my $nginx = ApikeyTest::Nginx->start(
    apikey_redis => "apikey_redis @{[ $c->address ]};",
    location => 'apikey on; apikey_limit 60r/m burst=3;',
    workers => 2,
);
my $day = strftime('%Y%m%d', gmtime);

my ($st, $out, $err);
my @keys;
for my $i (1 .. 4) {
    ($st, $out, $err) = $c->cli('create', '--name', "k$i", '--owner', 'acme', '--json');
    is $st, 0, "create $i" or diag $err;
    push @keys, json_of($out);
}
my %masters = map { ($c->owner(ApikeyTopology::key_slot("{$_->{id}}"))->address => 1) } @keys;
diag 'keys on ' . scalar(keys %masters) . ' masters';

# until every worker knows the slot map, a check may fail: wait for a 200
ok poll_until(30, sub { $nginx->get('/api/x', 'X-API-Key' => $keys[0]{token})->{status} == 200 }),
    'nginx checks keys on the cluster';
sleep 1.5;   # that first request's count is flushed
for my $k (@keys) {
    my $node = $c->owner(ApikeyTopology::key_slot("{$k->{id}}"));
    $node->cmd('DEL', "apikey:usage:{$k->{id}}:$day");
}

my @status;
for my $k (@keys) {
    push @status, map { $nginx->get('/api/x', 'X-API-Key' => $k->{token})->{status} } 1 .. 5;
}
is scalar(grep { $_ == 200 } @status), 12, '3 of 5 pass per key';
is scalar(grep { $_ == 429 } @status), 8, 'the rest limited';

for my $k (@keys) {
    my $node = $c->owner(ApikeyTopology::key_slot("{$k->{id}}"));
    ok poll_until(5, sub {
            my %h = split /\n/, $node->cmd('HGETALL', "apikey:usage:{$k->{id}}:$day");
            ($h{ok} // 0) == 3 && ($h{limited} // 0) == 2 }),
        "$k->{name}: counted on the master of its slot";
}
is json_of(($c->cli('usage', $keys[0]{id}, '--days', 1, '--json'))[1])->{total}{total}, 5,
    'apikeyctl usage on a cluster';
($st, $out, $err) = $c->cli('usage', '--owner', 'acme', '--days', 1, '--json');
is $st, 0, 'usage --owner on a cluster' or diag $err;
is_deeply json_of($out)->{total}, { ok => 12, forbidden => 0, limited => 8, invalid => 0, quota_exceeded => 0, credits_exhausted => 0, total => 20 },
    '... summed over the owner\'s keys on every master';

($st, undef, $err) = $c->cli('limits', $keys[1]{id}, '--reset');
is $st, 0, 'limits --reset on a cluster' or diag $err;
is $nginx->get('/api/x', 'X-API-Key' => $keys[1]{token})->{status}, 200, '... the key passes again';
my $events = json_of(($c->cli('audit', $keys[1]{id}, '--json'))[1]);
is $events->[0]{action}, 'reset_limits', '... audited';

$nginx->stop;
done_testing;
