# The key model with apikeyctl on a Redis Cluster, where a key's record, the
# indexes, the role/plan/owner sets and the roles themselves live in
# different slots: the script changes the record alone and apikeyctl keeps
# the indexes and sets right after; a role or plan update rewrites its keys'
# copies key by key; revoke --owner goes key by key; list reads every record
# and cuts the same pages in the same order; reindex rebuilds the indexes.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use ApikeyTest;
use ApikeyTopology;

my $c = ApikeyTopology::Cluster->start;
my ($st, $out, $err);

sub node_for { $c->owner(ApikeyTopology::key_slot($_[0])) }
sub on { my ($key, @cmd) = @_; node_for($key)->cmd(@cmd) }
sub field { on("apikey:key:{$_[0]}", 'HGET', "apikey:key:{$_[0]}", $_[1]) }
sub members { join ' ', sort grep { length } split /\n/, on($_[0], 'SMEMBERS', $_[0]) }

($st, undef, $err) = $c->cli('role', 'create', 'reader', '--scope', 'read');
is $st, 0, 'role create on a cluster' or diag $err;
($st, undef, $err) = $c->cli('plan', 'create', 'gold', '--limit', '60r/m');
is $st, 0, 'plan create on a cluster' or diag $err;
($st, undef, $err) = $c->cli('create', '--name', 'x', '--role', 'nope');
is $st, 1, 'an unknown role is refused';

my @ids;
for my $i (1 .. 6) {
    ($st, $out, $err) = $c->cli('create', '--name', "Key $i", '--role', 'reader', '--plan', 'gold',
                                '--owner', $i % 2 ? 'acct_odd' : 'acct_even', '--json');
    is $st, 0, "create $i" or diag $err;
    push @ids, json_of($out)->{id};
    sleep 1 if $i == 3;   # two creation seconds
}
my %slots = map { (node_for("apikey:key:{$_}")->address => 1) } @ids;
diag 'keys on ' . scalar(keys %slots) . ' masters';
is field($ids[0], 'role_scopes'), 'read', "the role's copy";
is field($ids[0], 'plan_limits'), '60r/m:60', "the plan's copy";
is members('apikey:role_keys:reader'), join(' ', sort @ids), 'role_keys set';
is members('apikey:owner_keys:acct_odd'), join(' ', sort @ids[0, 2, 4]), 'owner_keys set';
is on('apikey:idx:created', 'ZCARD', 'apikey:idx:created'), 6, 'idx:created';
is on('apikey:idx:name', 'ZCARD', 'apikey:idx:name'), 6, 'idx:name';

($st, $out, $err) = $c->cli('role', 'update', 'reader', '--scope', 'read', '--scope', 'write');
is $st, 0, 'role update' or diag $err;
like $out, qr/its 6 keys/, 'rewrites every key of the role';
is field($_, 'role_scopes'), 'read write', "key $_: the new copy" for @ids;
($st, undef, $err) = $c->cli('role', 'delete', 'reader');
is $st, 1, 'role delete refused while used';
($st, $out) = $c->cli('role', 'list', '--json');
is json_of($out)->[0]{keys}, 6, 'role list counts the keys';

($st, $out) = $c->cli('list', '--json');
my @listed = map { $_->{id} } @{ json_of($out) };
# newest first, then by id: as the records' creation seconds say (the six
# creations may spread over more than the two seconds they were meant for)
my %created = map { $_ => field($_, 'created') } @ids;
is_deeply \@listed, [sort { $created{$b} <=> $created{$a} || $b cmp $a } @ids],
    'newest first (by creation second, then id)';
isnt $created{ $listed[0] }, $created{ $listed[5] }, '... over more than one second';
($st, $out) = $c->cli('list', '--sort', 'name', '--json', '--limit', '4');
is_deeply [map { $_->{name} } @{ json_of($out) }], ['Key 1', 'Key 2', 'Key 3', 'Key 4'], 'by name';
(undef, undef, $err) = $c->cli('list', '--sort', 'name', '--limit', '4');
my ($after) = $err =~ /--after (\S+)/;
($st, $out) = $c->cli('list', '--sort', 'name', '--json', '--after', $after);
is_deeply [map { $_->{name} } @{ json_of($out) }], ['Key 5', 'Key 6'], 'the next page';
($st, $out) = $c->cli('list', '--owner', 'acct_even', '--json');
is_deeply [sort map { $_->{id} } @{ json_of($out) }], [sort @ids[1, 3, 5]], 'list --owner';

($st, $out, $err) = $c->cli('revoke', '--owner', 'acct_odd', '--json');
is $st, 0, 'revoke --owner' or diag $err;
is_deeply [sort @{ json_of($out)->{revoked} }], [sort @ids[0, 2, 4]], 'every key of the owner';
is field($_, 'status'), 'revoked', "key $_ revoked" for @ids[0, 2, 4];
is field($_, 'status'), 'active', "key $_ untouched" for @ids[1, 3, 5];

($st) = $c->cli('update', $ids[1], '--no-role', '--owner', 'acct_new');
is members('apikey:role_keys:reader'), join(' ', sort grep { $_ ne $ids[1] } @ids), 'left the role set';
is members('apikey:owner_keys:acct_new'), $ids[1], 'moved owner set';
($st) = $c->cli('delete', $ids[3]);
is on('apikey:idx:created', 'ZSCORE', 'apikey:idx:created', $ids[3]), '', 'delete: out of idx:created';
is on('apikey:idx:name', 'ZCARD', 'apikey:idx:name'), 5, 'and idx:name';

# calendar quotas on a cluster: the CLI copies the plan's quota into
# plan_quota (the plan lives in another slot), and a plan update re-copies
# it key by key through the recopy mode; credits change in the record's slot
($st, undef, $err) = $c->cli('plan', 'create', 'metered', '--limit', '5r/s', '--quota', '100/day');
is $st, 0, 'plan create --quota on a cluster' or diag $err;
($st, undef, $err) = $c->cli('update', $ids[0], '--plan', 'metered', '--quota', '7/week',
                             '--credits', '30');
is $st, 0, 'update --plan --quota --credits on a cluster' or diag $err;
is field($ids[0], 'plan_quota'), '100/day', "the plan's quota copied";
is field($ids[0], 'quota'), '7/week', 'the key\'s own';
($st, $out, $err) = $c->cli('plan', 'update', 'metered', '--quota', '200/month');
is $st, 0, 'plan update --quota on a cluster' or diag $err;
is field($ids[0], 'plan_quota'), '200/month', 're-copied key by key';
is field($ids[0], 'plan_limits'), '5r/s:5', 'the limits copy stays';
($st) = $c->cli('plan', 'update', 'metered', '--no-quota');
is field($ids[0], 'plan_quota'), '', 'plan update --no-quota: plan_quota removed';
($st, $out, $err) = $c->cli('credits', $ids[0], '--add', '-10', '--json');
is $st, 0, 'credits --add on a cluster' or diag $err;
is json_of($out)->{credits}, 20, 'the result';
($st, undef, $err) = $c->cli('credits', $ids[0], '--add', '-21');
is $st, 1, 'below 0 refused on a cluster too';
on("apikey:quota:{$ids[0]}", 'HSET', "apikey:quota:{$ids[0]}", 'default/day', '20260101:1');
($st, undef, $err) = $c->cli('limits', $ids[0], '--reset');
is $st, 0, 'limits --reset on a cluster' or diag $err;
is on("apikey:quota:{$ids[0]}", 'EXISTS', "apikey:quota:{$ids[0]}"), '0', 'the quota hash is gone';
($st) = $c->cli('update', $ids[0], '--plan', 'gold');
is field($ids[0], 'plan_quota'), '', 'back to a plan without quota: no plan_quota';

# reindex rebuilds lost indexes
on('apikey:idx:created', 'DEL', 'apikey:idx:created');
on('apikey:idx:name', 'DEL', 'apikey:idx:name');
($st, $out, $err) = $c->cli('reindex');
is $st, 0, 'reindex on a cluster' or diag $err;
like $out, qr/Indexed 5 keys/, 'every record';
is on('apikey:idx:created', 'ZCARD', 'apikey:idx:created'), 5, 'idx:created again';
is on('apikey:idx:name', 'ZCARD', 'apikey:idx:name'), 5, 'idx:name again';

done_testing;
