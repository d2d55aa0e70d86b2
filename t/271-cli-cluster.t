# apikeyctl's atomic changes on a Redis Cluster: the admin script runs on the
# key's slot alone (the audit stream lives in another slot, so apikeyctl
# appends each event itself right after the change), and delete removes the
# key's bucket state with the record. Keys land on every master.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use ApikeyTest;
use ApikeyTopology;

my $c = ApikeyTopology::Cluster->start;

for my $i (1 .. 6) {
    my $id = $c->create_key(name => "key $i")->{id};
    my $owner = $c->owner(ApikeyTopology::key_slot("{$id}"));
    $owner->cmd('HSET', "apikey:bucket:{$id}:default", 'tokens', 5);

    my ($st, $out, $err) = $c->cli('update', $id, '--name', 'renamed', '--reason', 'tidy');
    is $st, 0, "key $i: update" or diag $err;
    ($st, $out, $err) = $c->cli('rotate', $id, '--grace', '1h', '--json');
    is $st, 0, "key $i: rotate" or diag $err;
    ($st, $out, $err) = $c->cli('revoke', $id);
    is $st, 0, "key $i: revoke" or diag $err;
    ($st, $out, $err) = $c->cli('extend', $id, '--expires-in', '1d');
    is $st, 1, "key $i: extend of a revoked key is refused";
    ($st, $out, $err) = $c->cli('delete', $id);
    is $st, 0, "key $i: delete" or diag $err;
    is $owner->cmd('EXISTS', "apikey:bucket:{$id}:default", "apikey:key:{$id}"), '0',
        "key $i: the record and its bucket are gone";
    ($st, $out, $err) = $c->cli('update', $id, '--name', 'again');
    is $st, 1, "key $i: an update after the delete fails";
    is $owner->cmd('EXISTS', "apikey:key:{$id}"), '0', "key $i: and recreates nothing";

    ($st, $out) = $c->cli('audit', $id, '--json');
    is join(',', map { $_->{action} } reverse @{ json_of($out) }),
       'create,update,rotate,revoke,delete', "key $i: one event per change, in order";
}

done_testing;
