# Per-key usage on a Redis Cluster: each key's counts go to the master of the
# key's slot (the {<id>} tag), and apikeyctl usage, usage --owner and limits
# --reset read and write them there. Calendar quotas and credits count there
# too, in the slot of the key's record.
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
    server => <<'EOF',
        location /quota/ {
            apikey on; apikey_limit off; apikey_quota 2/day;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
        location /bare/ {
            apikey on; apikey_limit off;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
EOF
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

# calendar quotas and credits on a cluster: the quota counts share the
# record's slot (a key of the call where the location has apikey_quota, read
# by name where only the key has a quota), the credits are in the record
sub made {
    my ($name, @opts) = @_;
    my ($s, $o, $e) = $c->cli('create', '--name', $name, '--json', @opts);
    die "create: $e" if $s;
    return json_of($o);
}
sub node_of { $c->owner(ApikeyTopology::key_slot("{$_[0]{id}}")) }
sub on { my ($path, $k) = @_; $nginx->get($path, 'X-API-Key' => $k->{token})->{status} }
my $q = made('cluster quota');
ok poll_until(10, sub { on('/quota/x', $q) == 200 }), 'apikey_quota on a cluster: the first passes';
is on('/quota/x', $q), 200, '... the second';
is on('/quota/x', $q), 429, '... the third is over the 2/day quota';
like node_of($q)->cmd('HGET', "apikey:quota:{$q->{id}}", 'default/day'), qr/^$day:2$/,
    '... counted on the master of its slot';
my $own = made('cluster own quota', '--quota', '1/day');
ok poll_until(10, sub { on('/bare/x', $own) == 200 }), "a key's own quota where no apikey_quota applies: passes once";
is on('/bare/x', $own), 429, '... then 429 (its counts read by name in its slot)';
my $cr = made('cluster credits', '--credits', '1');
ok poll_until(10, sub { on('/bare/x', $cr) == 200 }), 'credits on a cluster: one use';
is on('/bare/x', $cr), 429, '... then none left';
is node_of($cr)->cmd('HGET', "apikey:key:{$cr->{id}}", 'credits'), 0, '... taken in the record';

$nginx->stop;
done_testing;
