# The audit stream: every change by the CLI, with time, key, action, OS user
# and reason; apikeyctl audit shows it.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my (undef, $out) = $redis->cli('create', '--name', 'audited', '--reason', 'ticket OPS-1', '--json');
my $id = json_of($out)->{id};
$redis->cli('update', $id, '--scope', 'read', '--reason', 'needs read');
$redis->cli('extend', $id, '--expires-in', '180d');
$redis->cli('rotate', $id, '--reason', 'laptop stolen');
$redis->cli('revoke', $id, '--reason', 'contract ended');
$redis->cli('delete', $id);
my $other = $redis->create_key(name => 'other');

my ($st, $json) = $redis->cli('audit', $id, '--json');
is $st, 0, 'audit exits 0';
my $events = json_of($json);
is_deeply [map { $_->{action} } @$events], [qw(delete revoke rotate extend update create)],
    'every change, newest first';
is $events->[-1]{reason}, 'ticket OPS-1', 'reason recorded';
is $events->[1]{reason}, 'contract ended', 'reason recorded on revoke';
my $user = $ENV{SUDO_USER} || getpwuid($<);
is $events->[0]{user}, $user, 'the OS user';
is $events->[0]{via}, 'cli', 'via the CLI';
like $events->[0]{time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'time';
ok !grep({ $_->{id} ne $id } @$events), 'only this key\'s events';

(undef, $json) = $redis->cli('audit', '--json');
is scalar(@{ json_of($json) }), 7, 'without an id: every key\'s events';
(undef, $json) = $redis->cli('audit', '--limit', '2', '--json');
is scalar(@{ json_of($json) }), 2, '--limit';

my (undef, $table) = $redis->cli('audit', $id);
like $table, qr/^TIME\s+WHEN\s+KEY\s+ACTION\s+USER\s+REASON/m, 'a table for people';
like $table, qr/revoke\s+\S+\s+contract ended/, 'rows';

is $redis->cmd('TYPE', 'apikey:audit'), 'stream', 'a Redis stream';
like $redis->cmd('XINFO', 'STREAM', 'apikey:audit'), qr/length\n7/, 'seven entries';

# sudo's caller is the user
my (undef, $o2) = ApikeyTest::cli({ APIKEY_REDIS => $redis->address, SUDO_USER => 'alice' },
                                  'revoke', $other->{id});
(undef, $json) = $redis->cli('audit', $other->{id}, '--json');
is json_of($json)->[0]{user}, 'alice', 'under sudo: the caller';

done_testing;
