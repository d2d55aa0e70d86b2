# The key model on apikeyctl's side: owners (--owner, the owner_keys set,
# list --owner, revoke --owner in one step with one audit event per key),
# disable and enable, live and test keys (--env), metadata (--meta) and
# per-key IP allowlists (--allow-ip), on create, import and update.
use strict;
use warnings;
use lib 't/lib';
use File::Temp qw(tempdir);
use Test::More;
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my ($st, $out, $err);

sub field { $redis->cmd('HGET', "apikey:key:{$_[0]}", $_[1]) }
sub has_field { $redis->cmd('HEXISTS', "apikey:key:{$_[0]}", $_[1]) }
sub members { join ' ', sort grep { length } split /\n/, $redis->cmd('SMEMBERS', $_[0]) }
sub create {
    my ($name, @more) = @_;
    my ($s, $o, $e) = $redis->cli('create', '--name', $name, '--json', @more);
    die "create @more: $e" if $s != 0;
    return json_of($o);
}
sub listed { my ($s, $o) = $redis->cli('list', '--json', @_); join ' ', sort map { $_->{id} } @{ json_of($o) // [] } }

# owners
my $k1 = create('one', '--owner', 'acct_42');
my $k2 = create('two', '--owner', 'acct_42');
my $k3 = create('three', '--owner', 'acct_42');
my $other = create('other', '--owner', 'team-7@example.com');
my $none = create('nobody');
is field($k1->{id}, 'owner'), 'acct_42', 'record: owner';
is has_field($none->{id}, 'owner'), '0', 'a key without an owner has no owner field';
is members('apikey:owner_keys:acct_42'), join(' ', sort map { $_->{id} } $k1, $k2, $k3),
   'owner_keys set';
is listed('--owner', 'acct_42'), join(' ', sort map { $_->{id} } $k1, $k2, $k3), 'list --owner';
is listed('--owner', 'nobody_here'), '', 'list --owner of an unknown owner: nothing';
($st, undef, $err) = $redis->cli('create', '--name', 'x', '--owner', 'bad owner');
is $st, 2, 'invalid owner: exit 2';
like $err, qr/invalid --owner/, 'and says so';
($st, undef, $err) = $redis->cli('create', '--name', 'x', '--owner', 'a' x 129);
is $st, 2, 'owner over 128 bytes: exit 2';

# update --owner moves the key between the sets; --no-owner removes it
($st) = $redis->cli('update', $k3->{id}, '--owner', 'acct_43');
is $st, 0, 'update --owner';
is members('apikey:owner_keys:acct_42'), join(' ', sort map { $_->{id} } $k1, $k2), 'left the old set';
is members('apikey:owner_keys:acct_43'), $k3->{id}, 'in the new one';
($st) = $redis->cli('update', $k3->{id}, '--no-owner');
is $st, 0, 'update --no-owner';
is has_field($k3->{id}, 'owner'), '0', 'no owner field';
is $redis->cmd('EXISTS', 'apikey:owner_keys:acct_43'), '0', 'out of every owner set';

# disable and enable
($st, $out, $err) = $redis->cli('disable', $k2->{id}, '--reason', 'suspicious traffic');
is $st, 0, 'disable exits 0' or diag $err;
like $out, qr/Disabled key \Q$k2->{id}\E .*401 key_disabled.*apikeyctl enable/, 'says how to undo it';
is field($k2->{id}, 'status'), 'disabled', 'record: status disabled';
is listed('--status', 'disabled'), $k2->{id}, 'list --status disabled';
unlike listed('--status', 'active'), qr/\Q$k2->{id}\E/, 'not in list --status active';
($st, undef, $err) = $redis->cli('disable', $k2->{id});
is $st, 1, 'disabling a disabled key: exit 1';
like $err, qr/already disabled/, 'and says so';
($st, undef, $err) = $redis->cli('enable', $k1->{id});
is $st, 1, 'enabling an active key: exit 1';
like $err, qr/not disabled/, 'and says so';
($st, $out) = $redis->cli('enable', $k2->{id}, '--reason', 'false alarm', '--json');
is $st, 0, 'enable exits 0';
is field($k2->{id}, 'status'), 'active', 'active again';
$redis->cli('disable', $k2->{id});
($st, undef, $err) = $redis->cli('disable', 'zzzzzzzzzzzz');
is $st, 1, 'disable of an unknown key: exit 1';
like $err, qr/no key with ID zzzzzzzzzzzz/, 'and says so';

# revoke --owner: every key of the owner not revoked yet (the disabled one
# too), in one script, one audit event per key; other owners untouched
$redis->cmd('CONFIG', 'RESETSTAT');
($st, $out, $err) = $redis->cli('revoke', '--owner', 'acct_42', '--reason', 'left the company',
                                '--json');
is $st, 0, 'revoke --owner exits 0' or diag $err;
my $r = json_of($out);
is_deeply [sort @{ $r->{revoked} }], [sort map { $_->{id} } $k1, $k2], 'revoked both keys';
is $redis->calls('eval'), 1, 'in one script';
is field($_->{id}, 'status'), 'revoked', "key $_->{id} revoked" for $k1, $k2;
is field($other->{id}, 'status'), 'active', "another owner's key is untouched";
is field($k3->{id}, 'status'), 'active', 'a key that left the owner is untouched';
($st, $out) = $redis->cli('audit', '--json');
my @events = grep { $_->{action} eq 'revoke' } @{ json_of($out) };
is scalar(@events), 2, 'one audit event per key';
is_deeply [sort map { $_->{id} } @events], [sort map { $_->{id} } $k1, $k2], 'each naming its key';
is $_->{reason}, 'left the company', 'with the reason' for @events;
($st, $out) = $redis->cli('revoke', '--owner', 'acct_42');
is $st, 0, 'revoke --owner again';
like $out, qr/no key left to revoke/, 'nothing left to revoke';
($st, $out) = $redis->cli('audit', '--json');
is scalar(grep { $_->{action} eq 'revoke' } @{ json_of($out) }), 2, 'and no new event';
($st, undef, $err) = $redis->cli('revoke', '--owner', 'acct_42', $k3->{id});
is $st, 2, 'revoke --owner with an id: exit 2';

# a revoke is permanent: enable and disable refuse a revoked key
($st, undef, $err) = $redis->cli('enable', $k2->{id});
is $st, 1, 'enable of a revoked key: exit 1';
like $err, qr/revoked/, 'and says so';
is field($k2->{id}, 'status'), 'revoked', 'it stays revoked';
($st, undef, $err) = $redis->cli('disable', $k1->{id});
is $st, 1, 'disable of a revoked key: exit 1';
is field($k1->{id}, 'status'), 'revoked', 'it stays revoked';
($st, $out) = $redis->cli('audit', $k2->{id}, '--json');
is_deeply [map { $_->{action} } @{ json_of($out) }], [qw(revoke disable enable disable create)],
    'disable and enable are audited';

# environments
my $test = create('sandbox', '--env', 'test');
like $test->{token}, qr/^ak_test_\Q$test->{id}\E_/, '--env test: an ak_test_ token';
is field($test->{id}, 'env'), 'test', 'record: env test';
like $other->{token}, qr/^ak_live_/, 'the default: an ak_live_ token';
is field($other->{id}, 'env'), 'live', 'record: env live';
is listed('--env', 'test'), $test->{id}, 'list --env test';
($st, $out, $err) = $redis->cli('rotate', $test->{id}, '--json');
is $st, 0, 'rotate a test key' or diag $err;
like json_of($out)->{token}, qr/^ak_test_\Q$test->{id}\E_/, 'its new token is a test token too';
($st, undef, $err) = $redis->cli('create', '--name', 'x', '--env', 'prod');
is $st, 2, '--env prod: exit 2';
($st, undef, $err) = $redis->cli('update', $test->{id}, '--env', 'live');
is $st, 2, 'update takes no --env (the token says it)';

# metadata
my $m = create('meta', '--meta', 'tenant=t-42', '--meta', 'tier=gold');
is field($m->{id}, 'meta'), '{"tenant":"t-42","tier":"gold"}', 'record: meta as a JSON object';
($st) = $redis->cli('update', $m->{id}, '--meta', 'tier=', '--meta', 'region=eu');
is $st, 0, 'update --meta';
is field($m->{id}, 'meta'), '{"region":"eu","tenant":"t-42"}', 'NAME= removes one, others kept';
($st) = $redis->cli('update', $m->{id}, '--meta', 'region=', '--meta', 'tenant=');
is has_field($m->{id}, 'meta'), '0', 'no entry left: no meta field';
for my $bad (['Bad=x', 'invalid meta name'], ['a-b=x', 'invalid meta name'],
             [('n' x 33) . '=x', 'invalid meta name'], ['x=' . ('v' x 257), 'too long'],
             ["x=a\x01b", 'invalid value'], ['novalue', 'NAME=VALUE']) {
    ($st, undef, $err) = $redis->cli('create', '--name', 'x', '--meta', $bad->[0]);
    is $st, 2, "--meta $bad->[1]: exit 2";
    like $err, qr/\Q$bad->[1]\E/, "and says $bad->[1]";
}
my @sixteen = map { ('--meta', "m$_=v") } 1 .. 16;
($st, undef, $err) = $redis->cli('create', '--name', 'x', @sixteen, '--meta', 'm17=v');
is $st, 2, '17 --meta: exit 2';
my $full = create('full', @sixteen);
($st, undef, $err) = $redis->cli('update', $full->{id}, '--meta', 'm17=v');
is $st, 1, 'a 17th entry by update: exit 1';
like $err, qr/at most 16/, 'and says so';
is scalar(keys %{ JSON::PP->new->decode(field($full->{id}, 'meta')) }), 16, 'the 16 stay';
my $utf8 = create('utf8', '--meta', "city=K\xc3\xb8benhavn");
is field($utf8->{id}, 'meta'), "{\"city\":\"K\xc3\xb8benhavn\"}", 'UTF-8 values kept as they are';

# IP allowlists, canonicalised
my $ip = create('ip', '--allow-ip', '10.1.2.3/8', '--allow-ip', '2001:DB8:0:0::1/32',
                '--allow-ip', '192.0.2.7');
is field($ip->{id}, 'allow_ip'), '10.0.0.0/8 2001:db8::/32 192.0.2.7/32', 'record: canonical CIDRs';
($st, undef, $err) = $redis->cli('create', '--name', 'x', '--allow-ip', '10.0.0.0/33');
is $st, 2, 'invalid CIDR: exit 2';
like $err, qr/invalid --allow-ip/, 'and says so';
($st, undef, $err) = $redis->cli('create', '--name', 'x', '--allow-ip', 'none');
is $st, 2, 'create --allow-ip none: exit 2';
($st) = $redis->cli('update', $ip->{id}, '--allow-ip', '203.0.113.9/24');
is field($ip->{id}, 'allow_ip'), '203.0.113.0/24', 'update --allow-ip replaces the list';
($st) = $redis->cli('update', $ip->{id}, '--allow-ip', 'none');
is $st, 0, 'update --allow-ip none';
is has_field($ip->{id}, 'allow_ip'), '0', 'no allow_ip field: any address';
($st, undef, $err) = $redis->cli('update', $ip->{id}, '--allow-ip', 'none', '--allow-ip', '10.0.0.1');
is $st, 2, 'none with addresses: exit 2';

# import takes them too
my $dir = tempdir(CLEANUP => 1);
open my $f, '>', "$dir/token" or die;
print $f "legacy-token-0123456789abcdefXYZ\n";
close $f;
($st, $out, $err) = $redis->cli('import', '--name', 'legacy', '--token-file', "$dir/token",
                                '--owner', 'acct_9', '--env', 'test', '--meta', 'src=old',
                                '--allow-ip', '198.51.100.0/24', '--json');
is $st, 0, 'import with the key model options' or diag $err;
my $imp = json_of($out);
is field($imp->{id}, 'owner'), 'acct_9', 'import: owner';
is field($imp->{id}, 'env'), 'test', 'import: env';
is field($imp->{id}, 'meta'), '{"src":"old"}', 'import: meta';
is field($imp->{id}, 'allow_ip'), '198.51.100.0/24', 'import: allow_ip';
is members('apikey:owner_keys:acct_9'), $imp->{id}, 'import: owner set';

# show and list show the key model
$redis->cmd('HSET', 'apikey:role:ops', 'scopes', 'ops:read', 'description', '', 'created', 1, 'updated', 1);
$redis->cmd('SADD', 'apikey:roles', 'ops');
$redis->cmd('HSET', 'apikey:plan:pro', 'limits', '100r/s:100', 'description', '', 'created', 1, 'updated', 1);
my $full_key = create('everything', '--owner', 'acct_77', '--role', 'ops', '--plan', 'pro',
                      '--env', 'test', '--meta', 'tenant=t-77', '--allow-ip', '192.0.2.0/24');
$redis->cli('disable', $full_key->{id});
($st, $out) = $redis->cli('show', $full_key->{id}, '--json');
my $shown = json_of($out);
is $shown->{owner}, 'acct_77', 'show --json: owner';
is $shown->{role}, 'ops', 'show --json: role';
is $shown->{plan}, 'pro', 'show --json: plan';
is $shown->{env}, 'test', 'show --json: env';
is_deeply $shown->{meta}, { tenant => 't-77' }, 'show --json: meta';
is_deeply $shown->{allow_ip}, ['192.0.2.0/24'], 'show --json: allow_ip';
is $shown->{status}, 'disabled', 'show --json: status disabled';
($st, $out) = $redis->cli('show', $full_key->{id});
like $out, qr/^Owner\s+acct_77$/m, 'show: owner';
like $out, qr/^Role\s+ops \(scopes: ops:read\)$/m, "show: role and the scopes it gives";
like $out, qr/^Plan\s+pro \(limits: 100r\/s:100\)$/m, "show: plan and its limits";
like $out, qr/^Env\s+test$/m, 'show: env';
like $out, qr/^Meta\s+\{"tenant":"t-77"\}$/m, 'show: meta';
like $out, qr/^Allow IP\s+192\.0\.2\.0\/24$/m, 'show: allowed addresses';
like $out, qr/^Status\s+disabled$/m, 'show: status';
($st, $out) = $redis->cli('list', '--owner', 'acct_77', '--json');
my ($in_list) = @{ json_of($out) };
is_deeply [@$in_list{qw(owner role plan env status)}], [qw(acct_77 ops pro test disabled)],
    'list --json: owner, role, plan, env, status';
is_deeply $in_list->{meta}, { tenant => 't-77' }, 'list --json: meta';
is_deeply $in_list->{allow_ip}, ['192.0.2.0/24'], 'list --json: allow_ip';
($st, $out) = $redis->cli('list', '--owner', 'acct_77');
like $out, qr/^ID\s+NAME\s+HINT\s+SCOPES\s+CREATED\s+LAST USED\s+EXPIRES\s+STATUS\s+OWNER\s+ROLE\s+PLAN\s+ENV$/m,
    'list table: owner, role, plan and env columns';
like $out, qr/\bdisabled\s+acct_77\s+ops\s+pro\s+test$/m, 'list table row';
is listed('--role', 'ops'), $full_key->{id}, 'list --role';
is listed('--plan', 'pro'), $full_key->{id}, 'list --plan';

# a key deleted leaves its owner's set
($st) = $redis->cli('delete', $other->{id});
is $redis->cmd('EXISTS', 'apikey:owner_keys:team-7@example.com'), '0', 'delete leaves the owner set';

done_testing;
