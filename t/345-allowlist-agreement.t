# The check script and the C++ core match a client against a key's allow_ip
# list the same way (the script on a miss, the core on a cache hit): thousands
# of generated canonical lists and clients inside, just outside and far from
# their networks, IPv4 and IPv6, get the same answer from both.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $root = ApikeyTest::root();
my $script = `$root/build/cmake/unit/print_script`;
my $sha = $redis->cmd('SCRIPT', 'LOAD', $script);
like $sha, qr/^[0-9a-f]{40}$/, 'the script the module loads';

my ($cases, $admitted, $disagree) = (0, 0, 0);
for my $seed (1 .. 5) {
    my @lines = map { chomp; [split /\t/] } `$root/build/cmake/unit/cidr_trace $seed 400`;
    is $?, 0, "cidr_trace $seed";
    my @lua = split /\n/, $redis->cmd('EVALSHA', $sha, 0, 'allow', map { @$_[0, 2] } @lines);
    for my $i (0 .. $#lines) {
        my ($list, $client, undef, $cpp) = @{ $lines[$i] };
        $cases++;
        $admitted += $cpp;
        next if ($lua[$i] // '') eq $cpp;
        $disagree++;
        diag "list [$list] client $client: C++ $cpp, Lua " . ($lua[$i] // 'none')
            if $disagree <= 5;
    }
}
is $disagree, 0, "the script and the core agree on all $cases cases";
cmp_ok $admitted, '>', $cases / 5, "many of them admitted ($admitted), many not";
cmp_ok $admitted, '<', $cases * 4 / 5, 'and many refused';

# the edges the generator may miss
my @edges = (
    ['', '00000000000000000000ffff7f000001', 1],                       # no list: anyone
    ['10.0.0.0/8', '', 0],                                             # no address (unix socket)
    ['0.0.0.0/0', '20010db8000000000000000000000001', 0],              # IPv4 "any" is not IPv6
    ['::/0', '00000000000000000000ffff7f000001', 1],                   # all of IPv6 holds mapped IPv4
    ['garbage 10.0.0.0/8', '00000000000000000000ffff0a000001', 1],
    ['garbage', '00000000000000000000ffff0a000001', 0],                # fail closed
    ['010.0.0.0/8', '00000000000000000000ffff0a000001', 0],            # not an address to inet_pton
    ['10.0.0.0/08', '00000000000000000000ffff0a000001', 0],
    ['10.0.0.0/33', '00000000000000000000ffff0a000001', 0],
);
for my $e (@edges) {
    my ($list, $hex, $want) = @$e;
    my ($got) = split /\n/, $redis->cmd('EVALSHA', $sha, 0, 'allow', $list, $hex);
    $got //= '';
    is $got, $want, "edge: [$list] admits [$hex]: $want";
}

done_testing;
