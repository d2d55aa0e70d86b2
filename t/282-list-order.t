# apikeyctl list over the sorted indexes (<prefix>idx:created, idx:expires,
# idx:last_used, idx:name) that the admin script keeps with every change:
# newest first by default, sorted by name, created, last used and expiry
# across pages (cursor), name search and filters; with 5,000 keys the first
# page is one Redis call of bounded size. Keys written before the indexes
# existed: list says to run reindex, and reindex brings them in.
use strict;
use warnings;
use lib 't/lib';
use File::Temp qw(tempdir);
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my ($st, $out, $err);

# the admin script exactly as apikeyctl and the module send it
my $source = do { local (@ARGV, $/) = root() . '/src/core/admin_script.cpp'; <> };
my ($script) = $source =~ /R"lua\((.*)\)lua"/s or die 'no admin script';
my $dir = tempdir(CLEANUP => 1);
{ open my $f, '>', "$dir/script.lua" or die; print $f $script; close $f }
my $sha = `redis-cli -p ${\ $redis->port} -x SCRIPT LOAD < $dir/script.lua`;
chomp $sha;
like $sha, qr/^[0-9a-f]{40}$/, 'admin script loaded';

sub resp { my $s = '*' . @_ . "\r\n"; $s .= '$' . length($_) . "\r\n$_\r\n" for @_; $s }

# Writes records through the script's create mode, as apikeyctl create does
# (same fields, same script, so the same index entries), pipelined.
sub create_many {
    my (@keys) = @_;
    open my $pipe, '|-', "redis-cli -p ${\ $redis->port} --pipe >/dev/null" or die;
    for my $k (@keys) {
        my @fields = (v => 1, digest => sprintf('%064x', $k->{n}), status => 'active',
                      name => $k->{name}, scopes => '', hint => 'abcd', limits => '',
                      created => $k->{created}, updated => $k->{created},
                      expires => $k->{expires}, revoked => 0, prev_digest => '',
                      prev_hint => '', prev_until => 0, imported => 0,
                      ($k->{last_used} ? (last_used => $k->{last_used}) : ()),
                      ($k->{owner} ? (owner => $k->{owner}) : ()));
        print $pipe resp('EVALSHA', $sha, 2, "apikey:key:{$k->{id}}", 'apikey:audit', 'create',
                         $k->{created}, 'create', 'test', '', 'test', 'apikey:invalidate',
                         $k->{id}, @fields);
    }
    close $pipe or die 'redis-cli --pipe failed';
}

my @words = qw(alpha Beta gamma DELTA epsilon Zeta eta THETA iota Kappa);
my $now = int time;
my @keys;
for my $n (1 .. 5000) {
    push @keys, {
        n => $n,
        id => sprintf('k%011d', $n),
        name => "$words[$n % 10] $words[($n * 7) % 10] " . (($n * 7919) % 5000),
        created => $now - 100000 + (($n * 2654435761) % 99991),   # distinct, shuffled
        expires => $n % 3 == 0 ? 0 : $now + 1000 + $n,
        last_used => $n % 2 ? $now - $n : 0,
        owner => $n % 1000 == 0 ? 'acct_big' : '',
    };
}
my $t0 = time;
create_many(@keys);
diag sprintf 'created 5000 keys through the admin script in %.1f s', time - $t0;
is $redis->cmd('ZCARD', 'apikey:idx:created'), 5000, 'idx:created has every key';
is $redis->cmd('ZCARD', 'apikey:idx:name'), 5000, 'idx:name has every key';
is $redis->cmd('ZCARD', 'apikey:idx:expires'), 5000, 'idx:expires has every key';
is $redis->cmd('ZCARD', 'apikey:idx:last_used'), 5000, 'idx:last_used has every key';

my @by_created = map { $_->{id} } sort { $b->{created} <=> $a->{created} } @keys;
my @by_name = map { $_->{id} }
    sort { lc($a->{name}) . "\0" . $a->{id} cmp lc($b->{name}) . "\0" . $b->{id} } @keys;

# what apikeyctl sends, seen by MONITOR: commands of clients, not of scripts
sub monitored {
    my ($code) = @_;
    my $pid = fork // die;
    if ($pid == 0) {
        open STDOUT, '>', "$dir/monitor" or die;
        exec 'redis-cli', '-p', $redis->port, 'MONITOR' or POSIX::_exit(127);
    }
    # attached before the command, and everything up to a marker read after it
    for (1 .. 250) { last if $redis->cmd('CLIENT', 'LIST') =~ /flags=O/; sleep 0.02 }
    my @r = $code->();
    my $marker = 'end-of-' . time;
    $redis->cmd('ECHO', $marker);
    for (1 .. 250) {
        last if (do { local (@ARGV, $/) = "$dir/monitor"; <> } // '') =~ /\Q$marker\E/;
        sleep 0.02;
    }
    kill 'TERM', $pid;
    waitpid $pid, 0;
    my @lines = do { open my $f, '<', "$dir/monitor" or die; <$f> };
    # the test's own probes (CLIENT LIST, the ECHO marker) aside
    my @clients = grep { /^\d+\.\d+ \[\d+ (?!lua\])/ && !/"(?:ECHO|CLIENT)"/ } @lines;
    my @lua = grep { /^\d+\.\d+ \[\d+ lua\]/ } @lines;
    return (\@clients, \@lua, @r);
}

# the first page: newest first, one call
$redis->cmd('CONFIG', 'RESETSTAT');
my ($clients, $lua, $s, $o, $e) = monitored(sub {
    my $t = time;
    my @r = $redis->cli('list', '--limit', '50', '--json');
    diag sprintf 'first page in %.3f s', time - $t;
    return @r;
});
is $s, 0, 'list --limit 50 exits 0' or diag $e;
my $page = json_of($o);
is_deeply [map { $_->{id} } @$page], [@by_created[0 .. 49]], 'the 50 newest keys, newest first';
is scalar(@$clients), 1, 'one Redis command from apikeyctl' or diag @$clients;
like $clients->[0] // '', qr/"EVAL"/, 'the admin script';
ok scalar(grep { /"HGETALL"/ } @$lua) <= 51, 'which reads about one page of records, not 5,000'
    or diag scalar(grep { /"HGETALL"/ } @$lua);
like $e, qr/more keys may follow: add --after (\S+)/, 'says how to continue';
my ($cursor) = $e =~ /--after (\S+)/;
($s, $o) = $redis->cli('list', '--limit', '50', '--after', $cursor, '--json');
is_deeply [map { $_->{id} } @{ json_of($o) }], [@by_created[50 .. 99]], 'the next page continues';

# the page mode itself (what the admin API calls): one reply of bounded size
my $reply = `redis-cli -p ${\ $redis->port} EVALSHA $sha 2 apikey:idx:created apikey:audit page 0 '' '' '' '' apikey:invalidate '' created desc 50 '' $now 20000 '' '' '' '' '' ''`;
my @ids = $reply =~ /^(k\d{11})$/mg;
is_deeply [@ids], [@by_created[0 .. 49]], 'page mode: 50 records, newest first';
ok length($reply) < 50 * 1024, 'page mode: the reply is bounded by the page (' . length($reply) . ' bytes)';

# sorted by name across pages
my @seen;
my $after;
my $calls = 0;
for (;;) {
    ($s, $o, $e) = $redis->cli('list', '--sort', 'name', '--limit', '1000', '--json',
                               defined $after ? ('--after', $after) : ());
    $calls++;
    push @seen, map { $_->{id} } @{ json_of($o) };
    last unless $e =~ /--after (\S+)/;
    $after = $1;
    last if $calls > 10;
}
is scalar(@seen), 5000, 'by name: every key once across pages';
is_deeply [@seen], [@by_name], 'by name (case-insensitive, then id) across pages';
($s, $o) = $redis->cli('list', '--sort', 'name', '--desc', '--limit', '20', '--json');
is_deeply [map { $_->{id} } @{ json_of($o) }], [(reverse @by_name)[0 .. 19]], '--sort name --desc';
($s, $o) = $redis->cli('list', '--sort', 'created', '--asc', '--limit', '20', '--json');
is_deeply [map { $_->{id} } @{ json_of($o) }], [(reverse @by_created)[0 .. 19]], '--asc: oldest first';

# expiry: soonest first, never last; last used: most recent first
my @by_expires = map { $_->{id} }
    sort { ($a->{expires} || 9e18) <=> ($b->{expires} || 9e18) || $a->{id} cmp $b->{id} } @keys;
($s, $o) = $redis->cli('list', '--sort', 'expires', '--limit', '30', '--json');
is_deeply [map { $_->{id} } @{ json_of($o) }], [@by_expires[0 .. 29]], '--sort expires: soonest first';
($s, $o) = $redis->cli('list', '--sort', 'expires', '--desc', '--limit', '5', '--json');
is json_of($o)->[0]{expires_at}, undef, '--sort expires --desc: never-expiring first';
my @by_used = map { $_->{id} }
    sort { $b->{last_used} <=> $a->{last_used} || $b->{id} cmp $a->{id} } @keys;
($s, $o) = $redis->cli('list', '--sort', 'last_used', '--limit', '30', '--json');
is_deeply [map { $_->{id} } @{ json_of($o) }], [@by_used[0 .. 29]], '--sort last_used: most recent first';

# search and filters, over the whole set
my @alpha = grep { lc($_->{name}) =~ /theta 4/ } @keys;
($s, $o) = $redis->cli('list', '--search', 'THETA 4', '--sort', 'name', '--json');
is_deeply [map { $_->{id} } @{ json_of($o) }],
    [map { $_->{id} } sort { lc($a->{name}) . "\0" . $a->{id} cmp lc($b->{name}) . "\0" . $b->{id} } @alpha],
    'search: name substring without case, in name order (' . scalar(@alpha) . ' keys)';
($s, $o) = $redis->cli('list', '--search', 'eta 1', '--limit', '7', '--json');
my @sub = grep { lc($_->{name}) =~ /eta 1/ } sort { $b->{created} <=> $a->{created} } @keys;
is_deeply [map { $_->{id} } @{ json_of($o) }], [map { $_->{id} } @sub[0 .. 6]], 'search with the default order';
$redis->cmd('CONFIG', 'RESETSTAT');
($clients, $lua, $s, $o) = monitored(sub { $redis->cli('list', '--owner', 'acct_big', '--json') });
is_deeply [sort map { $_->{id} } @{ json_of($o) }],
    [sort map { $_->{id} } grep { $_->{owner} } @keys], '--owner across 5,000 keys';
is scalar(@$clients), 1, 'a filter over the whole set is still one call';

# the indexes follow every change
my $k = $keys[0]{id};
($s) = $redis->cli('update', $k, '--name', 'Aaaa first');
is $s, 0, 'rename';
($s, $o) = $redis->cli('list', '--sort', 'name', '--limit', '1', '--json');
is json_of($o)->[0]{id}, $k, 'a renamed key moves in the name order';
is $redis->cmd('ZCARD', 'apikey:idx:name'), 5000, 'and its old name entry is gone';
($s) = $redis->cli('extend', $k, '--expires-in', '1m');
($s, $o) = $redis->cli('list', '--sort', 'expires', '--limit', '1', '--json');
is json_of($o)->[0]{id}, $k, 'extend moves it in the expiry order';
($s) = $redis->cli('delete', $k);
is $redis->cmd('ZSCORE', "apikey:idx:$_", $k), '', "delete removes it from idx:$_"
    for qw(created expires last_used);
is $redis->cmd('ZCARD', 'apikey:idx:name'), 4999, 'and from idx:name';
($s, $o) = $redis->cli('create', '--name', 'brand new', '--json');
my $new = json_of($o)->{id};
($s, $o) = $redis->cli('list', '--limit', '1', '--json');
is json_of($o)->[0]{id}, $new, 'a new key comes first';

# the check keeps idx:last_used: a key used through nginx comes first
{
    my $nginx = ApikeyTest::Nginx->start(redis => $redis,
                                         location => 'apikey on; apikey_limit off;');
    ($s, $o) = $redis->cli('create', '--name', 'used now', '--json');
    my $used = json_of($o);
    my $res = $nginx->get('/api/x', 'X-API-Key' => $used->{token});
    is $res->{status}, 200, 'a request with a new key';
    ($s, $o) = $redis->cli('list', '--sort', 'last_used', '--limit', '1', '--json');
    is json_of($o)->[0]{id}, $used->{id}, 'list --sort last_used: the key just used comes first';
    $nginx->stop;
}

# keys written before the indexes: list says to reindex, reindex brings them in
my @old;
for my $n (1 .. 30) {
    my $id = sprintf('old%09d', $n);
    push @old, { id => $id, created => $now - 1000 + $n, name => "legacy $n" };
    $redis->cmd('HSET', "old:key:{$id}", 'v', 1, 'digest', sprintf('%064x', $n), 'status', 'active',
                'name', "legacy $n", 'scopes', '', 'hint', 'abcd', 'limits', '',
                'created', $now - 1000 + $n, 'updated', $now, 'expires', 0, 'revoked', 0);
}
($s, $o, $e) = $redis->cli('--prefix', 'old:', 'list');
is $s, 1, 'list with records but no index: exit 1';
like $e, qr/run "apikeyctl reindex"/, 'and says to run reindex';
# the least a record may hold (the data model's required fields only)
$redis->cmd('HSET', 'old:key:{old999999999}', 'digest', 'f' x 64, 'status', 'active');
$redis->cmd('ZADD', 'old:idx:name', 0, "ghost\0zzzzzzzzzzzz");
($s, $o, $e) = $redis->cli('--prefix', 'old:', 'reindex');
is $s, 0, 'reindex exits 0' or diag $e;
like $o, qr/Indexed 31 keys/, 'says how many';
($s, $o) = $redis->cli('--prefix', 'old:', 'list', '--json');
is_deeply [map { $_->{id} } @{ json_of($o) }], [(map { $_->{id} } reverse @old), 'old999999999'],
    'after reindex the old records are listed, newest first (no creation time: last)';
is $redis->cmd('ZSCORE', 'old:idx:name', "ghost\0zzzzzzzzzzzz"), '', 'a stale entry is dropped';
($s, $o) = $redis->cli('--prefix', 'old:', 'show', $old[0]{id}, '--json');
my $v1 = json_of($o);
is_deeply [@$v1{qw(env owner role plan status)}], ['live', undef, undef, undef, 'active'],
    'an old record reads as a live key without owner, role or plan';
is_deeply [$v1->{meta}, $v1->{allow_ip}], [{}, []], 'with no metadata and any address';
($s, $o, $e) = $redis->cli('--prefix', 'old:', 'update', $old[0]{id}, '--owner', 'acct_1');
is $s, 0, 'an old record takes an owner' or diag $e;
is $redis->cmd('SMEMBERS', 'old:owner_keys:acct_1'), $old[0]{id}, 'and joins the owner set';
($s, $o) = $redis->cli('--prefix', 'old:', 'reindex');
like $o, qr/Indexed 31 keys/, 'reindex again changes nothing';
is $redis->cmd('ZCARD', 'old:idx:created'), 31, 'no duplicate';
is $redis->cmd('ZCARD', 'old:idx:name'), 31, 'a record without a name keeps its name entry';

# no key under this prefix, but thousands of other Redis keys (the other
# prefix's): an empty list, not a reindex hint
($s, $o, $e) = $redis->cli('--prefix', 'none:', 'list', '--json');
is $s, 0, 'no key: list exits 0' or diag $e;
is $o, "[]\n", 'and lists nothing';

# a bad cursor or sort is a usage error
($s, undef, $e) = $redis->cli('list', '--sort', 'size');
is $s, 2, '--sort size: exit 2';
($s, undef, $e) = $redis->cli('list', '--after', 'not a cursor');
is $s, 2, 'a bad --after: exit 2';
($s, undef, $e) = $redis->cli('list', '--asc', '--desc');
is $s, 2, '--asc and --desc: exit 2';

done_testing;
