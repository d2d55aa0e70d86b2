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

# interleave: send all 30 first, then read
my @socks;
for my $i (0 .. 29) {
    push @socks, [$nginx[$i % 2], $nginx[$i % 2]->send_request('GET', '/api/x', 'X-API-Key' => $key->{token})];
}
my @status = map { $_->[0]->read_response($_->[1])->{status} } @socks;
my $passed = grep { $_ == 200 } @status;
is $passed, 10, 'combined passes across both instances respect one bucket';
is scalar(grep { $_ == 429 } @status), 20, 'the rest are 429';

my @per = map { my $n = $_; scalar grep { $_ % 2 == $n && $status[$_] == 200 } 0 .. 29 } 0, 1;
ok $per[0] > 0 && $per[1] > 0, "both instances passed some ($per[0] + $per[1])";

$_->stop for @nginx;
done_testing;
