# Which requests share a bucket (README, apikey_limit): one key's requests to
# every location whose line has the same bucket set (default, or bucket=NAME),
# the same rate (compared as the time between tokens) and the same burst.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $loc = sub {
    my ($path, $limits) = @_;
    return "        location /$path/ { apikey on; $limits proxy_pass http://127.0.0.1:\$upstream_port; }\n";
};
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    location => 'apikey on; apikey_limit 3r/m burst=3;',
    server => join('',
        $loc->('same',    'apikey_limit 3r/m burst=3;'),                 # identical to /api/
        $loc->('hourly',  'apikey_limit 180r/h burst=3;'),               # the same rate, other words
        $loc->('deeper',  'apikey_limit 3r/m burst=4;'),                 # another burst
        $loc->('faster',  'apikey_limit 4r/m burst=3;'),                 # another rate
        $loc->('named',   'apikey_limit 3r/m burst=3 bucket=reports;'),  # another set
        $loc->('named2',  'apikey_limit 3r/m burst=3 bucket=reports;'),
        $loc->('two',     'apikey_limit 3r/m burst=3; apikey_limit 100r/s burst=100;')),
);

sub st {
    my ($path, $key) = @_;
    return $nginx->get("/$path/x", 'X-API-Key' => $key->{token})->{status};
}

sub drain {
    my ($path, $key, $n) = @_;
    is st($path, $key), 200, "/$path/: request $_ of $n passes" for 1 .. $n;
}

# identical lines in two locations: one bucket
my $ka = $redis->create_key(name => 'a');
drain('api', $ka, 3);
is st('api', $ka), 429, '/api/ is empty after its burst';
is st('same', $ka), 429, 'an identical line elsewhere shares the bucket: /same/ is empty too';
is st('hourly', $ka), 429, '180r/h burst=3 is 3r/m burst=3: the same bucket';
is st('two', $ka), 429, 'a location with that line and another: the shared one is empty';
drain('deeper', $ka, 4);
drain('faster', $ka, 3);
drain('named', $ka, 3);
is st('named2', $ka), 429, 'bucket=reports in two locations with one line: shared';
is st('named', $ka), 429, '... both ways';

# another key never shares
my $kb = $redis->create_key(name => 'b');
drain('same', $kb, 3);
is st('api', $kb), 429, "another key's requests to /same/ empty only its own /api/ bucket";

# a key's own limits replace the default set's lines, in every location: one
# bucket for all of them; bucket= sets still apply
my $own = $redis->create_key(name => 'own', limits => ['2r/m:2']);
drain('api', $own, 2);
is st('deeper', $own), 429, "a key's own limit is one bucket across locations with different lines";
is st('faster', $own), 429, '... every one of them';
is st('named', $own), 200, 'a bucket= set is not replaced: its own bucket';

$nginx->stop;
done_testing;
