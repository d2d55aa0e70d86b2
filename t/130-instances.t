# Two nginx instances (two workers each) sharing one Redis: one bucket per key,
# whatever instance or worker a request lands on.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my @nginx = map { ApikeyTest::Nginx->start(redis => $redis, workers => 2, location => 'apikey on;') } 1 .. 2;
my $key = $redis->create_key(name => 'shared');

# interleaved, in flight together: the burst of 10 first (5 through each
# instance), then 20 more (10 through each); send all, then read
sub burst {
    my ($n) = @_;
    my @socks = map { my $ng = $nginx[$_ % 2];
                      [$_ % 2, $ng, $ng->send_request('GET', '/api/x', 'X-API-Key' => $key->{token})] } 0 .. $n - 1;
    return map { [$_->[0], $_->[1]->read_response($_->[2])->{status}] } @socks;
}
my @first = burst(10);
my @then = burst(20);
my @all = (@first, @then);
is scalar(grep { $_->[1] == 200 } @all), 10, 'combined passes across both instances respect one bucket';
is scalar(grep { $_->[1] == 429 } @all), 20, 'the rest are 429';
is_deeply [map { my $n = $_; scalar grep { $_->[0] == $n && $_->[1] == 200 } @first } 0, 1], [5, 5],
    'the burst: 5 passed through each instance';
ok !grep({ $_->[1] == 200 } @then), 'then every request refused, through either instance';

$_->stop for @nginx;
done_testing;
