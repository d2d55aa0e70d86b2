# Many nginx instances on one Redis, and on one Redis Cluster: three
# instances of two workers each, all with apikey_cache. A key's passes across
# all of them add up to its one bucket (within one), and a revoke through
# apikeyctl is seen by every instance within a second.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use ApikeyTest;
use ApikeyTopology;

sub instances {
    my ($address) = @_;
    return map {
        ApikeyTest::Nginx->start(apikey_redis => "apikey_redis $address;", workers => 2,
                                 http => "apikey_cache zone=apikeys$_:1m ttl=60s;",
                                 location => 'apikey on;')
    } 1 .. 3;
}

sub check_shared {
    my ($what, $store, @nginx) = @_;

    # --- one bucket: 10 passes (burst 10, one more a minute), in any mix of instances
    my $key = $store->create_key(name => 'shared', limits => ['1r/m:10']);
    # in flight together, spread over the instances: 9 first (3 through each,
    # all within the burst), then 36 more; send all, then read
    my $burst = sub {
        my ($n) = @_;
        my @socks = map { my $ng = $nginx[$_ % 3];
                          [$_ % 3, $ng, $ng->send_request('GET', '/api/x', 'X-API-Key' => $key->{token})] }
                    0 .. $n - 1;
        return map { [$_->[0], $_->[1]->read_response($_->[2])->{status}] } @socks;
    };
    my @first = $burst->(9);
    my @then = $burst->(36);
    my $passed = grep { $_->[1] == 200 } @first, @then;
    ok abs($passed - 10) <= 1, "$what: combined passes across three instances: $passed (bucket of 10, within one)";
    is scalar(grep { $_->[1] != 200 && $_->[1] != 429 } @first, @then), 0, "$what: the rest are 429";
    my @per = map { my $n = $_; scalar grep { $_->[0] == $n && $_->[1] == 200 } @first } 0 .. 2;
    is_deeply \@per, [3, 3, 3], "$what: within the burst, every instance passed its 3";

    # --- a revoke reaches every instance's cache within a second
    my $victim = $store->create_key(name => 'to revoke');
    for my $n (@nginx) {
        # twice per instance, so both workers have seen it (and cached it)
        is $n->get('/api/x', 'X-API-Key' => $victim->{token})->{status}, 200, "$what: key valid on " . $n->port
            for 1 .. 2;
    }
    my $t = time;
    my ($status, undef, $err) = $store->cli('revoke', $victim->{id});
    is $status, 0, "$what: apikeyctl revoke" or diag $err;
    my %seen;
    # the cache keeps entries 60 s: a refusal within these 20 s was told by
    # the invalidation message, however slow this machine is
    while (time - $t < 20 && keys %seen < 3) {
        for my $i (0 .. 2) {
            next if $seen{$i};
            # both workers must refuse it: two requests in a row
            my @s = map { $nginx[$i]->get('/api/x', 'X-API-Key' => $victim->{token})->{status} } 1 .. 2;
            $seen{$i} = time - $t if !grep { $_ != 401 } @s;
        }
        sleep 0.02;
    }
    for my $i (0 .. 2) {
        ok defined $seen{$i},
            sprintf("$what: instance %d refuses the revoked key, by the invalidation (%.3f s after apikeyctl started)",
                    $i + 1, $seen{$i} // -1);
    }
}

{
    my $redis = ApikeyTest::Redis->start;
    my @nginx = instances($redis->address);
    check_shared('one Redis', $redis, @nginx);
    $_->stop for @nginx;
}

{
    my $cluster = ApikeyTopology::Cluster->start;
    my @nginx = instances($cluster->address);
    # the slot maps: every instance answers a key (twice: both workers)
    my $probe = $cluster->create_key(name => 'probe');
    ok poll_until(30, sub { !grep { $_->get('/api/x', 'X-API-Key' => $probe->{token})->{status} != 200 } (@nginx) x 2 }),
        'every instance has its slot map';
    check_shared('Redis Cluster', $cluster, @nginx);
    $_->stop for @nginx;
    $cluster->stop;
}

done_testing;
