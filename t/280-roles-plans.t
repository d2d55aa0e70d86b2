# Roles (named scope sets) and plans (named limit sets): apikeyctl role and
# plan, --role and --plan on keys, the copies kept in every key of a role or
# plan by the same atomic script, the role_keys/plan_keys sets, deletion
# refused while a key uses one, the invalidation of every key changed, and
# the audit stream.
use strict;
use warnings;
use lib 't/lib';
use File::Temp qw(tempdir);
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep);
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my ($st, $out, $err);

sub field { $redis->cmd('HGET', "apikey:key:{$_[0]}", $_[1]) }
sub has_field { $redis->cmd('HEXISTS', "apikey:key:{$_[0]}", $_[1]) }
sub members { join ' ', sort split /\n/, $redis->cmd('SMEMBERS', $_[0]) }
sub records { scalar grep { length } split /\n/, $redis->cmd('KEYS', 'apikey:key:*') }

# role create, show, list
($st, $out) = $redis->cli('role', 'create', 'reader', '--scope', 'read', '--scope', 'list',
                          '--description', 'read only', '--json');
is $st, 0, 'role create exits 0';
my $role = json_of($out);
is_deeply $role->{scopes}, ['read', 'list'], 'role create --json: scopes';
is $role->{description}, 'read only', 'description';
is $role->{keys}, 0, 'no key yet';
is $redis->cmd('HGET', 'apikey:role:reader', 'scopes'), 'read list', 'role hash';
is members('apikey:roles'), 'reader', 'role set';
($st, undef, $err) = $redis->cli('role', 'create', 'reader', '--scope', 'x');
is $st, 1, 'a second role create of the same name: exit 1';
like $err, qr/role "reader" exists already/, 'and says so';
is $redis->cmd('HGET', 'apikey:role:reader', 'scopes'), 'read list', 'the role is unchanged';
($st, undef, $err) = $redis->cli('role', 'create', 'Bad Name', '--scope', 'x');
is $st, 2, 'invalid role name: exit 2';
($st, undef, $err) = $redis->cli('role', 'create', 'empty');
is $st, 2, 'role create without --scope: exit 2';
like $err, qr/needs --scope/, 'and says so';
($st, undef, $err) = $redis->cli('role', 'list', '--scope', 'x');
is $st, 2, 'role list takes no --scope';
($st, $out) = $redis->cli('role', 'create', 'writer', '--scope', 'write');
is $st, 0, 'second role';
($st, $out) = $redis->cli('role', 'list', '--json');
is_deeply [map { $_->{name} } @{ json_of($out) }], ['reader', 'writer'], 'role list --json, by name';
($st, $out) = $redis->cli('role', 'list');
like $out, qr/^reader\s+0\s+read list\s+read only$/m, 'role list table';
($st, $out) = $redis->cli('role', 'show', 'reader');
like $out, qr/^Scopes\s+read list$/m, 'role show';
($st, undef, $err) = $redis->cli('role', 'show', 'nope');
is $st, 1, 'role show of an unknown role: exit 1';
like $err, qr/no role "nope"/, 'and says so';

# a key of a role: an unknown role is refused and nothing is written
my $before = records();
($st, undef, $err) = $redis->cli('create', '--name', 'x', '--role', 'nope');
is $st, 1, 'create --role of an unknown role: exit 1';
like $err, qr/no role "nope"/, 'and says so';
is records(), $before, 'no record written';
is $redis->cmd('ZCARD', 'apikey:idx:created'), '0', 'no index entry written';

# plans
($st, $out) = $redis->cli('plan', 'create', 'gold', '--limit', '600r/m:50', '--limit',
                          '10000r/d', '--json');
is $st, 0, 'plan create exits 0';
is_deeply json_of($out)->{limits}, ['600r/m:50', '10000r/d:10000'], 'plan create --json: limits';
($st, $out) = $redis->cli('plan', 'create', 'free', '--limit', '60r/m');
is $st, 0, 'second plan';
($st, undef, $err) = $redis->cli('plan', 'create', 'bad', '--limit', 'lots');
is $st, 2, 'invalid plan limit: exit 2';
($st, undef, $err) = $redis->cli('create', '--name', 'x', '--plan', 'nope');
is $st, 1, 'create --plan of an unknown plan: exit 1';
like $err, qr/no plan "nope"/, 'and says so';
($st, $out) = $redis->cli('plan', 'list', '--json');
is_deeply [map { $_->{name} } @{ json_of($out) }], ['free', 'gold'], 'plan list --json';

# keys of the role and the plan
my @ids;
for my $n (1 .. 3) {
    ($st, $out, $err) = $redis->cli('create', '--name', "k$n", '--scope', 'own', '--role', 'reader',
                                    '--plan', 'gold', '--json');
    is $st, 0, "create --role --plan ($n)" or diag $err;
    push @ids, json_of($out)->{id};
}
my ($a, $b, $c) = @ids;
is field($a, 'role'), 'reader', 'record: role';
is field($a, 'role_scopes'), 'read list', "record: a copy of the role's scopes";
is field($a, 'scopes'), 'own', 'record: its own scopes stay its own';
is field($a, 'plan'), 'gold', 'record: plan';
is field($a, 'plan_limits'), '600r/m:50 10000r/d:10000', "record: a copy of the plan's limits";
is members('apikey:role_keys:reader'), join(' ', sort @ids), 'role_keys set';
is members('apikey:plan_keys:gold'), join(' ', sort @ids), 'plan_keys set';
($st, $out) = $redis->cli('role', 'show', 'reader', '--json');
is json_of($out)->{keys}, 3, 'role show counts its keys';

# update --role moves a key between sets; --no-role removes it
($st, undef, $err) = $redis->cli('update', $c, '--role', 'writer', '--plan', 'free');
is $st, 0, 'update --role --plan' or diag $err;
is field($c, 'role_scopes'), 'write', "the new role's copy";
is field($c, 'plan_limits'), '60r/m:60', "the new plan's copy";
is members('apikey:role_keys:reader'), join(' ', sort $a, $b), "left the old role's set";
is members('apikey:role_keys:writer'), $c, 'in the new one';
is members('apikey:plan_keys:free'), $c, "and in the new plan's";
($st, undef, $err) = $redis->cli('update', $c, '--role', 'nope', '--name', 'renamed');
is $st, 1, 'update --role of an unknown role: exit 1';
is field($c, 'role'), 'writer', 'the key keeps its role';
is field($c, 'name'), 'k3', 'and nothing else of the update is written';
($st, undef, $err) = $redis->cli('update', $c, '--no-role', '--no-plan');
is $st, 0, 'update --no-role --no-plan';
is has_field($c, $_), '0', "--no-role/--no-plan: no $_ field"
    for qw(role role_scopes plan plan_limits);
is $redis->cmd('EXISTS', 'apikey:role_keys:writer'), '0', "the role's set is empty";
($st, undef, $err) = $redis->cli('update', $c, '--role', 'x', '--no-role');
is $st, 2, '--role and --no-role exclude each other';

# role update: every key of the role at once, each one announced, in one script
my $dir = tempdir(CLEANUP => 1);
my $sub = fork // die;
if ($sub == 0) {
    open STDOUT, '>', "$dir/sub" or die;
    exec 'redis-cli', '-p', $redis->port, 'SUBSCRIBE', 'apikey:invalidate' or POSIX::_exit(127);
}
for (1 .. 250) { last if ($redis->cmd('PUBSUB', 'NUMSUB', 'apikey:invalidate') =~ /\n(\d+)/)[0]; sleep 0.02 }
$redis->cmd('CONFIG', 'RESETSTAT');
($st, $out, $err) = $redis->cli('role', 'update', 'reader', '--scope', 'read', '--scope', 'export');
is $st, 0, 'role update exits 0' or diag $err;
like $out, qr/Updated role reader and its 2 keys/, 'says how many keys changed';
is $redis->calls('eval'), 1, 'one script';
is field($_, 'role_scopes'), 'read export', "key $_ has the new scopes" for $a, $b;
is has_field($c, 'role_scopes'), '0', 'a key that left the role is untouched';
for (1 .. 250) {
    last if (do { local (@ARGV, $/) = "$dir/sub"; <> } // '') =~ /^\Q$b\E$/m;
    sleep 0.02;
}
kill 'TERM', $sub;
waitpid $sub, 0;
my $published = do { local (@ARGV, $/) = "$dir/sub"; <> } // '';
like $published, qr/^\Q$_\E$/m, "invalidation published for $_" for $a, $b;
unlike $published, qr/^\Q$c\E$/m, 'none for a key not of the role';

($st, $out) = $redis->cli('role', 'update', 'reader', '--description', 'reads and exports');
is $st, 0, 'role update --description alone';
is $redis->cmd('HGET', 'apikey:role:reader', 'scopes'), 'read export', 'keeps the scopes';
is $redis->cmd('HGET', 'apikey:role:reader', 'description'), 'reads and exports', 'new description';
($st, undef, $err) = $redis->cli('role', 'update', 'reader');
is $st, 2, 'role update without a change: exit 2';
($st, undef, $err) = $redis->cli('role', 'update', 'nope', '--scope', 'x');
is $st, 1, 'role update of an unknown role: exit 1';

($st, $out, $err) = $redis->cli('plan', 'update', 'gold', '--limit', '1200r/m:100');
is $st, 0, 'plan update' or diag $err;
is field($_, 'plan_limits'), '1200r/m:100', "key $_ has the new limits" for $a, $b;

# delete: refused while a key uses it
($st, undef, $err) = $redis->cli('role', 'delete', 'reader');
is $st, 1, 'role delete while keys use it: exit 1';
like $err, qr/2 key\(s\) use role "reader"/, 'and says how many';
is $redis->cmd('EXISTS', 'apikey:role:reader'), '1', 'the role stays';
($st, undef, $err) = $redis->cli('plan', 'delete', 'gold');
is $st, 1, 'plan delete while keys use it: exit 1';
$redis->cli('update', $a, '--no-role');
($st, undef, $err) = $redis->cli('delete', $b);
is $st, 0, 'deleting a key';
is $redis->cmd('EXISTS', 'apikey:role_keys:reader'), '0', "removes it from its role's set";
is members('apikey:plan_keys:gold'), $a, "and from its plan's";
($st, $out, $err) = $redis->cli('role', 'delete', 'reader', '--reason', 'unused');
is $st, 0, 'role delete once unused' or diag $err;
is $redis->cmd('EXISTS', 'apikey:role:reader'), '0', 'the role is gone';
is members('apikey:roles'), 'writer', 'and out of the set of roles';
($st, undef, $err) = $redis->cli('role', 'delete', 'reader');
is $st, 1, 'deleting it again: exit 1';

# audited
($st, $out) = $redis->cli('audit', '--json');
my %seen = map { ("$_->{id} $_->{action}" => $_) } @{ json_of($out) };
ok $seen{"role:reader $_"}, "audit: role $_" for qw(role_create role_update role_delete);
ok $seen{"plan:gold $_"}, "audit: plan $_" for qw(plan_create plan_update);
is $seen{'role:reader role_delete'}{reason}, 'unused', 'with the reason';

done_testing;
