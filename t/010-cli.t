# apikeyctl: every command, its JSON, its errors and exit statuses.
use strict;
use warnings;
use lib 't/lib';
use IO::Socket::INET;
use Test::More;
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;

# create
my ($st, $out, $err) = $redis->cli('create', '--name', 'billing export', '--scope', 'read:all',
                                   '--scope', 'write:all', '--json');
is $st, 0, 'create exits 0';
my $k = json_of($out);
ok $k, 'create --json prints one JSON object';
like $k->{token}, qr/^ak_live_[0-9a-z]{12}_[0-9A-Za-z]{46}$/, 'token has the documented format';
like $k->{id}, qr/^[0-9a-z]{12}$/, 'id has the documented format';
is substr($k->{token}, 8, 12), $k->{id}, 'token carries the id';
is $k->{name}, 'billing export', 'name';
is_deeply $k->{scopes}, ['read:all', 'write:all'], 'scopes';
is $k->{status}, 'active', 'status';
like $k->{expires_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'expires_at is RFC 3339';
is $k->{hint}, substr($k->{token}, -4), 'hint is the last 4 characters';
like $err, qr/secret manager/, 'warns to store the token';

# the default expiry is 90 days
{
    my ($y, $m, $d) = $k->{expires_at} =~ /^(\d+)-(\d+)-(\d+)/;
    my $t = POSIX::mktime(0, 0, 0, $d, $m - 1, $y - 1900);
    my $days = ($t - time) / 86400;
    ok $days > 88 && $days < 91, "default expiry is 90 days ($days)";
}

# human output shows the token too, once
($st, $out, $err) = $redis->cli('create', '--name', 'human');
is $st, 0, 'create without --json';
like $out, qr/ak_live_[0-9a-z]{12}_\S+/, 'human output shows the token';

# only a digest is stored
my $rec = $redis->cmd('HGETALL', "apikey:key:{$k->{id}}");
unlike $rec, qr/\Q$k->{token}\E/, 'Redis does not hold the token';
like $rec, qr/\b[0-9a-f]{64}\b/, 'Redis holds a SHA-256 digest';
my ($digest) = $rec =~ /digest\n([0-9a-f]{64})/;
is $digest, sha256_hex_of($k->{token}), 'digest is SHA-256 of the token';

# list
($st, $out) = $redis->cli('list', '--json');
is $st, 0, 'list exits 0';
my $list = json_of($out);
is ref $list, 'ARRAY', 'list --json is an array';
is scalar(@$list), 2, 'both keys listed';
unlike $out, qr/ak_(?:live_|test_)?[0-9a-z]{12}_/, 'list never shows a token';
ok exists $list->[0]{last_used_at}, 'list has last_used_at';
($st, $out) = $redis->cli('list');
like $out, qr/^ID\s+NAME\s+HINT\s+SCOPES\s+CREATED\s+LAST USED\s+EXPIRES\s+STATUS/m, 'table header';
like $out, qr/billing export/, 'table row';

# show
($st, $out) = $redis->cli('show', $k->{id}, '--json');
is $st, 0, 'show exits 0';
is json_of($out)->{name}, 'billing export', 'show --json';
ok !exists json_of($out)->{token}, 'show has no token';
($st, $out) = $redis->cli('show', $k->{id});
like $out, qr/^Scopes\s+read:all write:all$/m, 'show for humans';

# update
($st, $out) = $redis->cli('update', $k->{id}, '--name', 'renamed', '--scope', 'read:all',
                          '--limit', '600r/m:50', '--json');
is $st, 0, 'update exits 0';
my $u = json_of($out);
is $u->{name}, 'renamed', 'update name';
is_deeply $u->{scopes}, ['read:all'], 'update replaces scopes';
is_deeply $u->{limits}, ['600r/m:50'], 'update limits';
($st, $out) = $redis->cli('update', $k->{id}, '--no-limits', '--expires-in', 'never', '--json');
is_deeply json_of($out)->{limits}, [], '--no-limits';
is json_of($out)->{expires_at}, undef, '--expires-in never';

# rotate
($st, $out) = $redis->cli('rotate', $k->{id}, '--json');
is $st, 0, 'rotate exits 0';
my $r = json_of($out);
is $r->{id}, $k->{id}, 'rotate keeps the id';
isnt $r->{token}, $k->{token}, 'rotate mints a new token';

# revoke
($st, $out) = $redis->cli('revoke', $k->{id}, '--json');
is $st, 0, 'revoke exits 0';
is json_of($out)->{status}, 'revoked', 'revoked';
ok json_of($out)->{revoked_at}, 'revoked_at set';
($st, $out) = $redis->cli('list', '--status', 'revoked', '--json');
is scalar(@{ json_of($out) }), 1, 'list --status revoked';
($st, $out) = $redis->cli('list', '--status', 'active', '--json');
is scalar(@{ json_of($out) }), 1, 'list --status active';
($st, $out, $err) = $redis->cli('rotate', $k->{id});
is $st, 1, 'a revoked key cannot be rotated';

# expired is derived
my $short = $redis->create_key(name => 'short', expires_in => '1s');
poll_until(30, sub { ($st, $out) = $redis->cli('list', '--status', 'expired', '--json');
                     @{ json_of($out) // [] } > 0 });
is_deeply [map { $_->{id} } @{ json_of($out) }], [$short->{id}], 'list --status expired';

# delete
($st, $out) = $redis->cli('delete', $k->{id});
is $st, 0, 'delete exits 0';
is $redis->cmd('EXISTS', "apikey:key:{$k->{id}}"), '0', 'record removed';
($st, $out, $err) = $redis->cli('show', $k->{id});
is $st, 1, 'show of a deleted key exits 1';
like $err, qr/no key with ID/, 'and says so';

# bad input: exit 2 with a clear message
for my $case (
    [['create'], qr/needs --name/],
    [['create', '--name', ''], qr/invalid --name/],
    [['create', '--name', "a\nb"], qr/invalid --name/],
    [['create', '--name', 'x', '--scope', 'a b'], qr/invalid scope/],
    [['create', '--name', 'x', '--expires-in', 'soon'], qr/invalid --expires-in/],
    [['create', '--name', 'x', '--limit', '10r/x'], qr/invalid --limit/],
    [['create', '--name', 'x', '--bogus'], qr/unknown option/],
    [['show'], qr/exactly one key ID/],
    [['show', 'NOT-AN-ID'], qr/not a key ID/],
    [['list', '--status', 'sleeping'], qr/--status must be/],
    [['frobnicate'], qr/unknown command/],
    [['update', 'abcdefghijkl'], qr/nothing to update/],
) {
    my ($args, $re) = @$case;
    my ($s, undef, $e) = $redis->cli(@$args);
    is $s, 2, "exit 2: @$args";
    like $e, $re, "message: @$args";
}

# help: every command, and for each command every option it takes. The table
# is this test's reading of the option lists in src/cli/commands.cpp; each
# entry is checked against the program below (it must be accepted), so it
# cannot name an option the command does not have.
my @MODEL = qw(--owner --role --plan --meta --allow-ip --quota --credits --refill);
my %OPTIONS = (
    create => [qw(--name --scope --expires-in --limit --reason --json --env), @MODEL],
    import => [qw(--name --token-file --scope --expires-in --limit --reason --json --env), @MODEL],
    list   => [qw(--status --expiring --unused-since --json --owner --role --plan --env --sort
                  --asc --desc --search --limit --after)],
    show   => [qw(--json)],
    update => [qw(--name --scope --no-scopes --expires-in --limit --no-limits --reason --json),
               @MODEL, qw(--no-owner --no-role --no-plan --no-quota --no-credits --no-refill)],
    extend => [qw(--expires-in --reason --json)],
    revoke => [qw(--reason --json --owner --wait)],
    disable => [qw(--reason --json --wait)],
    enable => [qw(--reason --json)],
    delete => [qw(--reason --wait --json)],
    rotate => [qw(--grace --reason --json --wait)],
    audit  => [qw(--limit --json)],
    role   => [qw(--scope --no-scopes --description --reason --json)],
    plan   => [qw(--limit --no-limits --quota --no-quota --description --reason --json)],
    reindex => [],
    usage  => [qw(--days --owner --json)],
    limits => [qw(--reset --reason --json)],
    credits => [qw(--set --add --reason --json)],
);
my %FLAG = map { $_ => 1 } qw(--json --no-scopes --no-limits --asc --desc --no-owner --no-role
                              --no-plan --reset --no-quota --no-credits --no-refill);   # take no value
my @GLOBAL = qw(--redis --db --prefix --hash-secret-file --help --version);

($st, $out) = $redis->cli('--help');
is $st, 0, '--help exits 0';
my $global = $out;
my @listed = $global =~ /^  ([a-z]+) {2,}\S/mg;
is_deeply [sort @listed], [sort keys %OPTIONS], '--help lists every command, and no other';
like $global, qr/\Q$_\E\b/, "--help explains $_" for @GLOBAL;
like $global, qr/\Q$_\E/, "--help names the address form $_"
    for 'host:port', '[ipv6]:port', 'unix:/path', 'sentinel=H:P[,H:P...] master=NAME',
        'cluster=H:P[,H:P...]';
like $global, qr/\Q$_\E/, "--help names $_"
    for qw(APIKEY_REDIS APIKEY_REDIS_DB APIKEY_PREFIX APIKEY_HASH_SECRET_FILE
           APIKEY_REDIS_PASSWORD 127.0.0.1:6379);
($st, $out) = $redis->cli('help');
is $st, 0, 'help exits 0';
is $out, $global, 'help is --help';
($st, undef, $err) = $redis->cli();
is $st, 2, 'no command: exit 2';
is $err, $global, 'and the usage on stderr';

for my $cmd (sort keys %OPTIONS) {
    ($st, $out) = $redis->cli($cmd, '--help');
    is $st, 0, "$cmd --help exits 0";
    my ($own, $common) = split /^Options \(anywhere on the line\):$/m, $out, 2;
    like $own, qr/^usage: apikeyctl \Q$cmd\E\b/, "$cmd --help starts with its usage";
    for my $opt (@{ $OPTIONS{$cmd} }) {
        # in the usage line and explained below it
        my @seen = $own =~ /(?<![\w-])\Q$opt\E(?![\w-])/g;
        ok @seen >= 2, "$cmd --help: usage and text mention $opt" or diag $own;
        # the command really takes it: an unknown option after it is the one refused
        my ($s, undef, $e) = $redis->cli($cmd, $FLAG{$opt} ? $opt : "$opt=x", '--zz-not-an-option');
        like $e, qr/unknown option "--zz-not-an-option"/, "$cmd takes $opt";
    }
    # the usage lines name exactly the command's options; the text may refer to
    # another command's or a global one, but never to one that does not exist
    my ($usage) = split /\n\n/, $own, 2;
    my %in_usage = map { $_ => 1 } $usage =~ /(?<![\w-])(--[a-z][a-z-]*)/g;
    is_deeply [sort keys %in_usage], [sort @{ $OPTIONS{$cmd} }], "$cmd usage line is complete";
    my %exists = map { $_ => 1 } @GLOBAL, map { @$_ } values %OPTIONS;
    my @unknown = grep { !$exists{$_} } $own =~ /(?<![\w-])(--[a-z][a-z-]*)/g;
    is_deeply \@unknown, [], "$cmd --help names no option that does not exist";
    like $common // '', qr/\Q$_\E\b/, "$cmd --help explains the global $_" for @GLOBAL;
    my ($s, $o) = $redis->cli('help', $cmd);
    is $o, $out, "help $cmd is $cmd --help";
}
($st, $out) = $redis->cli('show', '--help');
like $out, qr/previous\s+token's\s+hint/, 'show --help: a rotation grace shows the previous token';

# the man page (scripts/debian/apikeyctl.1) has a section for every command
# naming each of its options, and the global options and variables
{
    my $file = root() . '/scripts/debian/apikeyctl.1';
    open my $f, '<', $file or die "$file: $!";
    (my $man = do { local $/; <$f> }) =~ s/\\-/-/g;
    my (undef, %section) = split /^\.S[HS] "?([^"\n]+)"?\n/m, $man;
    for my $cmd (sort keys %OPTIONS) {
        ok exists $section{$cmd}, "man page: a section for $cmd";
        like $section{$cmd} // '', qr/(?<![\w-])\Q$_\E(?![\w-])/, "man page: $cmd $_"
            for @{ $OPTIONS{$cmd} };
    }
    like $section{OPTIONS}, qr/(?<![\w-])\Q$_\E(?![\w-])/, "man page: option $_" for @GLOBAL;
    like $section{OPTIONS}, qr/^\.BI? "?\Q$_\E/m, "man page: --redis $_" for 'sentinel=', 'cluster=';
    like $section{ENVIRONMENT}, qr/^\.B \Q$_\E$/m, "man page: $_"
        for qw(APIKEY_REDIS APIKEY_REDIS_DB APIKEY_PREFIX APIKEY_HASH_SECRET_FILE
               APIKEY_REDIS_PASSWORD);
    SKIP: {
        skip 'no groff', 1 unless grep { -x "$_/groff" } split /:/, $ENV{PATH};
        my $warnings = `groff -ww -z -man $file 2>&1`;
        is $warnings, '', 'man page: groff -ww renders it without a warning';
    }
}

# unreachable Redis: exit 1, clear message
my ($s2, undef, $e2) = ApikeyTest::cli({ APIKEY_REDIS => '127.0.0.1:' . free_port() }, 'list');
is $s2, 1, 'unreachable Redis exits 1';
like $e2, qr/cannot connect to Redis at 127\.0\.0\.1:\d+/, 'and names the address';

# --redis overrides APIKEY_REDIS; --prefix keeps keys apart
my ($s3, $o3) = ApikeyTest::cli({ APIKEY_REDIS => '127.0.0.1:1' }, '--redis', $redis->address,
                                '--prefix', 'other:', 'create', '--name', 'p', '--json');
is $s3, 0, '--redis and --prefix';
my $p = json_of($o3);
is $redis->cmd('EXISTS', "other:key:{$p->{id}}"), '1', 'record under the other prefix';

# --limit twice: both limits are the key's
($st, $out) = $redis->cli('create', '--name', 'two limits', '--limit', '600r/m:50',
                          '--limit', '10000r/d:200', '--json');
is $st, 0, 'create with two --limit';
my $two = json_of($out);
($st, $out) = $redis->cli('show', $two->{id}, '--json');
is_deeply json_of($out)->{limits}, ['600r/m:50', '10000r/d:200'], 'show --json: both limits';
is $redis->cmd('HGET', "apikey:key:{$two->{id}}", 'limits'), '600r/m:50 10000r/d:200',
   'both stored in the record';

# --limit RATE without :BURST: the burst is the rate's count, one period's worth
($st, $out) = $redis->cli('create', '--name', 'no burst', '--limit', '120r/m', '--json');
is $st, 0, 'create --limit without a burst';
my $nb = json_of($out);
($st, $out) = $redis->cli('show', $nb->{id}, '--json');
is_deeply json_of($out)->{limits}, ['120r/m:120'], 'burst defaults to the count';
is $redis->cmd('HGET', "apikey:key:{$nb->{id}}", 'limits'), '120r/m:120', 'and is stored so';

# --db and APIKEY_REDIS_DB: the record lands in that database and no other
for my $case ([{}, ['--db', '3'], 3, '--db 3'],
              [{ APIKEY_REDIS_DB => '5' }, [], 5, 'APIKEY_REDIS_DB=5'],
              [{ APIKEY_REDIS_DB => '5' }, ['--db=6'], 6, '--db=6 over APIKEY_REDIS_DB=5']) {
    my ($env, $args, $db, $what) = @$case;
    my ($s, $o, $e) = ApikeyTest::cli({ APIKEY_REDIS => $redis->address, %$env }, @$args,
                                      'create', '--name', "db $db", '--json');
    is $s, 0, "create with $what" or diag $e;
    my $id = json_of($o)->{id};
    is $redis->cmd('-n', $db, 'EXISTS', "apikey:key:{$id}"), '1', "$what: the record is in db $db";
    is $redis->cmd('-n', 0, 'EXISTS', "apikey:key:{$id}"), '0', "$what: not in db 0";
    ($s, $o) = ApikeyTest::cli({ APIKEY_REDIS => $redis->address, %$env }, @$args, 'show', $id,
                               '--json');
    is json_of($o)->{name}, "db $db", "$what: show finds it there";
    ($s, undef, $e) = $redis->cli('show', $id);
    is $s, 1, "$what: db 0 does not know it";
}
($st, undef, $err) = $redis->cli('--db', 'x', 'list');
is $st, 2, 'an invalid --db is a usage error';
like $err, qr/invalid --db "x"/, 'and says so';

# the default address: no APIKEY_REDIS, no --redis -> 127.0.0.1:6379. Nothing
# is started there: if something listens, the assertion is skipped.
SKIP: {
    my $probe = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => 6379, Proto => 'tcp',
                                      Timeout => 1);
    skip 'something listens on 127.0.0.1:6379; the default address is not tested', 2 if $probe;
    delete local $ENV{APIKEY_REDIS};
    my ($s, undef, $e) = ApikeyTest::cli({}, 'list');
    is $s, 1, 'default address: exit 1 when nothing listens there';
    like $e, qr/cannot connect to Redis at 127\.0\.0\.1:6379\b/, 'and the message names 127.0.0.1:6379';
}

done_testing;

sub sha256_hex_of {
    require Digest::SHA;
    return Digest::SHA::sha256_hex($_[0]);
}
