# apikeyctl against a change made meanwhile by someone else (another
# apikeyctl, the admin API): each command is one atomic step in Redis, so the
# other change is never undone. A proxy (HoldingProxy) holds apikeyctl's
# first reply about the key until the test has made the other change: without
# atomic changes that reply is the record apikeyctl read, and what it writes
# back undoes the other change (a revoked key active again, a leaked token
# working again, a deleted key recreated).
use strict;
use warnings;
use lib 't/lib';
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use POSIX ();
use Test::More;
use ApikeyTest;
use HoldingProxy;

my $redis = ApikeyTest::Redis->start;

# apikeyctl in the background, through the proxy
sub cli_start {
    my ($proxy, @args) = @_;
    my $dir = tempdir(CLEANUP => 1);
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', "$dir/out" or die;
        open STDERR, '>', "$dir/err" or die;
        $ENV{APIKEY_REDIS} = $proxy->address;
        exec $ENV{APIKEYCTL} // root() . '/build/apikeyctl', @args or POSIX::_exit(127);
    }
    return { pid => $pid, dir => $dir };
}

sub cli_finish {
    my ($run) = @_;
    waitpid $run->{pid}, 0;
    my $status = $? >> 8;
    my $out = do { local (@ARGV, $/) = "$run->{dir}/out"; <> } // '';
    my $err = do { local (@ARGV, $/) = "$run->{dir}/err"; <> } // '';
    die "sanitizer report:\n$err" if $err =~ /AddressSanitizer|LeakSanitizer|runtime error:/;
    return ($status, $out, $err);
}

sub field {
    my ($id, $name) = @_;
    return $redis->cmd('HGET', "apikey:key:{$id}", $name);
}

sub token_of { ($_[0] =~ /(ak_(?:live_|test_)?[0-9a-z]{12}_[0-9A-Za-z]{46})/)[0] }

# Runs `apikeyctl @$mine` with its first reply about the key held (or its
# first command, hold => 'request') while `apikeyctl @$theirs` runs directly;
# returns both results.
sub race {
    my (%o) = @_;
    my $id = $o{id};
    my $proxy = HoldingProxy->start(upstream => $redis->port, match => qr/\{\Q$id\E\}/,
                                    hold => $o{hold} // 'reply');
    my $run = cli_start($proxy, map { $_ eq 'ID' ? $id : $_ } @{ $o{mine} });
    ok $proxy->wait_held, "$o{what}: apikeyctl stopped at its first command about the key"
        or diag($proxy->held // 'nothing held');
    my @theirs = $redis->cli(map { $_ eq 'ID' ? $id : $_ } @{ $o{theirs} });
    $proxy->release;
    my @mine = cli_finish($run);
    $proxy->stop;
    return (\@mine, \@theirs);
}

my $n = 0;
sub fresh_key {
    my %o = @_;
    my $k = $redis->create_key(name => 'race ' . ++$n, %o);
    return ($k->{id}, $k->{token});
}

# --- a change meanwhile: revoke --------------------------------------------

for my $case (
    [update => ['update', 'ID', '--name', 'renamed', '--reason', 'tidy']],
    [rotate => ['rotate', 'ID', '--grace', '1h']],
    [extend => ['extend', 'ID', '--expires-in', '30d']],
) {
    my ($what, $mine) = @$case;
    my ($id) = fresh_key();
    my ($m, $t) = race(id => $id, mine => $mine, theirs => ['revoke', 'ID', '--reason', 'leak'],
                       what => "$what vs revoke");
    is $t->[0], 0, "$what vs revoke: the revoke succeeds";
    is field($id, 'status'), 'revoked', "$what vs revoke: the key stays revoked";
    isnt field($id, 'revoked'), '0', "$what vs revoke: its revocation time stays";
    if ($what eq 'update') {
        is $m->[0], 0, 'update vs revoke: the update succeeds too';
        is field($id, 'name'), 'renamed', 'update vs revoke: and its change is kept';
    }
}

# --- a change meanwhile: delete ---------------------------------------------

for my $case (
    [update => ['update', 'ID', '--name', 'renamed']],
    [revoke => ['revoke', 'ID']],
    [rotate => ['rotate', 'ID']],
    [extend => ['extend', 'ID', '--expires-in', '30d']],
) {
    my ($what, $mine) = @$case;
    my ($id) = fresh_key();
    my ($m, $t) = race(id => $id, mine => $mine, theirs => ['delete', 'ID'],
                       what => "$what vs delete");
    is $t->[0], 0, "$what vs delete: the delete succeeds";
    is $redis->cmd('EXISTS', "apikey:key:{$id}"), '0', "$what vs delete: the key is not recreated";
}

# --- a change meanwhile: rotate (the token leaked) ---------------------------

for my $case (
    [update => ['update', 'ID', '--scope', 'read']],
    [extend => ['extend', 'ID', '--expires-in', '30d']],
    ['rotate with a grace' => ['rotate', 'ID', '--grace', '1h', '--json']],
    [revoke => ['revoke', 'ID']],
) {
    my ($what, $mine) = @$case;
    my ($id, $leaked) = fresh_key();
    my ($m, $t) = race(id => $id, mine => $mine, theirs => ['rotate', 'ID', '--json'],
                       what => "$what vs rotate");
    my $leaked_digest = sha256_hex($leaked);
    ok field($id, 'status') eq 'revoked'
       || (field($id, 'digest') ne $leaked_digest && field($id, 'prev_digest') ne $leaked_digest),
       "$what vs rotate: the leaked token works no more (neither current nor in a grace)";
    if ($t->[0] == 0) {
        # their rotation ran last (with apikeyctl's change already made): its
        # token is the one that works
        is field($id, 'digest'), sha256_hex(token_of($t->[1])),
            "$what vs rotate: the new token is current";
    } else {
        # refused: the key was revoked first
        is $what, 'revoke', "$what vs rotate: only a revoked key refuses the rotation";
        is field($id, 'status'), 'revoked', "$what vs rotate: and it stays revoked";
    }
}

# --- the key is gone before the command reaches Redis: a clear error ---------

for my $case (
    [update => ['update', 'ID', '--name', 'renamed']],
    [revoke => ['revoke', 'ID']],
    [rotate => ['rotate', 'ID']],
    [extend => ['extend', 'ID', '--expires-in', '30d']],
    [delete => ['delete', 'ID']],
) {
    my ($what, $mine) = @$case;
    my ($id) = fresh_key();
    my ($m, $t) = race(id => $id, mine => $mine, theirs => ['delete', 'ID'], hold => 'request',
                       what => "$what after delete");
    is $m->[0], 1, "$what of a key deleted meanwhile exits 1";
    like $m->[2], qr/^apikeyctl: no key with ID \Q$id\E$/m, "$what: says there is no such key";
    is $redis->cmd('EXISTS', "apikey:key:{$id}"), '0', "$what: the key is not recreated";
}

# a rotate or extend of a key revoked meanwhile is refused, and says why
for my $case (
    [rotate => ['rotate', 'ID'], qr/is revoked; create a new key instead/],
    [extend => ['extend', 'ID', '--expires-in', '30d'], qr/is revoked$/m],
) {
    my ($what, $mine, $message) = @$case;
    my ($id) = fresh_key();
    my ($m) = race(id => $id, mine => $mine, theirs => ['revoke', 'ID'], hold => 'request',
                   what => "$what after revoke");
    is $m->[0], 1, "$what of a key revoked meanwhile exits 1";
    like $m->[2], $message, "$what: says the key is revoked";
    is field($id, 'status'), 'revoked', "$what: the key stays revoked";
}

# delete vs delete: one of them deletes, the other says the key is gone; one event
{
    my ($id) = fresh_key();
    my ($m, $t) = race(id => $id, mine => ['delete', 'ID'], theirs => ['delete', 'ID'],
                       what => 'delete vs delete');
    is $t->[0], 0, 'delete vs delete: theirs deletes';
    is $m->[0], 1, 'delete vs delete: mine finds no key';
    my ($st, $out) = $redis->cli('audit', $id, '--json');
    my @deletes = grep { $_->{action} eq 'delete' } @{ json_of($out) };
    is scalar(@deletes), 1, 'delete vs delete: one delete event';
}

# delete removes the key's rate-limit state with the record, and nothing else
{
    my ($id) = fresh_key();
    my ($other) = fresh_key();
    $redis->cmd('HSET', "apikey:bucket:{$id}:$_", 'tokens', '5') for qw(default writes);
    $redis->cmd('HSET', "apikey:bucket:{$other}:default", 'tokens', '5');
    my ($st) = $redis->cli('delete', $id);
    is $st, 0, 'delete exits 0';
    is $redis->cmd('EXISTS', "apikey:key:{$id}", "apikey:bucket:{$id}:default",
                   "apikey:bucket:{$id}:writes"), '0', 'the record and its buckets are gone';
    is $redis->cmd('EXISTS', "apikey:key:{$other}", "apikey:bucket:{$other}:default"), '2',
        "another key's record and bucket stay";
}

# the audit events are those apikeyctl always wrote, one per change
{
    my ($id) = fresh_key();
    for my $args (['update', $id, '--name', 'x', '--reason', 'r1'],
                  ['extend', $id, '--expires-in', '10d'], ['rotate', $id, '--grace', '1h'],
                  ['revoke', $id, '--reason', 'r2'], ['revoke', $id], ['delete', $id]) {
        my ($st) = $redis->cli(@$args);
        is $st, 0, "@$args[0] exits 0";
    }
    my ($st, $out) = $redis->cli('audit', $id, '--json');
    my $events = json_of($out);
    is join(',', map { $_->{action} } reverse @$events), 'create,update,extend,rotate,revoke,delete',
        'one event per change (none for revoking a revoked key)';
    is join(',', map { $_->{via} } @$events), join(',', ('cli') x 6), 'via cli';
    is $events->[1]{reason}, 'r2', 'the reason is kept';
}

done_testing;
