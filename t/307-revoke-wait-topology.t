# Confirmed invalidation (306-revoke-wait.t) on Redis Sentinel and Redis
# Cluster: the workers' announcements and acknowledgements go where their
# keys live (the master; the master of each key's slot), apikeyctl --wait and
# the admin API's ?wait= (Sentinel; the admin API is not served on a Cluster)
# read them there.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use ApikeyTest;
use ApikeyTopology;

my $CACHE = 'apikey_cache zone=apikeys:1m ttl=60s announce=1s;';

sub st { $_[0]->get('/api/x', 'X-API-Key' => $_[1]{token})->{status} }

# --- Sentinel ---------------------------------------------------------------
{
    my $s = ApikeyTopology::Sentinels->start(name => 'mymaster');
    my $nginx = ApikeyTest::Nginx->start(
        apikey_redis => "apikey_redis @{[ join ' ', $s->address ]};",
        http => $CACHE,
        workers => 2,
        location => 'apikey on; apikey_limit off;',
        server => 'location /admin/ { apikey_admin auth=off; }');
    my @workers = sort { $a <=> $b } $nginx->worker_pids;
    ok poll_until(30, sub { $s->master->cmd('ZCARD', 'apikey:workers') == 2 }),
        'sentinel: both workers announced on the master';

    my $key = $s->create_key(name => 'sentinel');
    is st($nginx, $key), 200, 'cached' for 1 .. 4;
    my ($rc, $out, $err) = $s->cli('revoke', $key->{id}, '--wait', '5');
    is $rc, 0, 'sentinel: apikeyctl revoke --wait 5' or diag $err;
    like $out, qr/Confirmed by 2 workers of 1 instance/, '... both workers confirmed';
    is st($nginx, $key), 401, '... refused';

    $key = $s->create_key(name => 'sentinel admin');
    is st($nginx, $key), 200, 'cached' for 1 .. 4;
    my $res = $nginx->request('POST', "/admin/keys/$key->{id}/revoke?wait=5s", ':body' => '{}',
                              'Content-Type' => 'application/json');
    is $res->{status}, 200, 'sentinel: POST revoke?wait=5s' or diag $res->{body};
    my $wait = (ApikeyTest::json_of($res->{body}) // {})->{wait} // {};
    is_deeply [sort { $a <=> $b } map { $_->{worker} } @{ $wait->{confirmed} // [] }], \@workers,
        '... both workers confirmed';
    $nginx->stop;
    $s->stop;
}

# --- Cluster ----------------------------------------------------------------
{
    my $c = ApikeyTopology::Cluster->start;
    my $nginx = ApikeyTest::Nginx->start(
        apikey_redis => "apikey_redis @{[ $c->address ]};",
        http => $CACHE,
        workers => 2,
        location => 'apikey on; apikey_limit off;');
    my $owner = $c->owner(ApikeyTopology::key_slot('apikey:workers'));
    ok poll_until(30, sub { ($owner->cmd('ZCARD', 'apikey:workers') // 0) == 2 }),
        'cluster: both workers announced on the master of apikey:workers\'s slot';

    # keys on every master; each wait's acknowledgements land in another slot
    my %by_master;
    for my $i (1 .. 40) {
        my $key = $c->create_key(name => "cluster $i");
        $by_master{ $c->owner(ApikeyTopology::key_slot("{$key->{id}}"))->address } //= $key;
        last if keys %by_master == 3;
    }
    is scalar(keys %by_master), 3, 'a key on each master';
    for my $master (sort keys %by_master) {
        my $key = $by_master{$master};
        is st($nginx, $key), 200, 'cached' for 1 .. 4;
        my ($rc, $out, $err) = $c->cli('revoke', $key->{id}, '--wait', '5');
        is $rc, 0, "cluster: revoke --wait of a key on $master" or diag "$out\n$err";
        like $out, qr/Confirmed by 2 workers of 1 instance/, '... both workers confirmed';
        is st($nginx, $key), 401, '... refused';
    }
    $nginx->stop;
    $c->stop;
}

done_testing;
