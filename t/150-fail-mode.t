# apikey_fail_mode: closed (the default) refuses with 503 when Redis fails; open
# lets requests through, never silently.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    location => 'apikey on; apikey_scope read;',
    server => <<'EOF',
        location /lenient/ {
            apikey on;
            apikey_scope read;
            apikey_fail_mode open;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
EOF
);
my $key = $redis->create_key(name => 'k', scopes => ['read']);
my $weak = $redis->create_key(name => 'no scope');
is $nginx->get('/lenient/x', 'X-API-Key' => $weak->{token})->{status}, 403,
    'Redis up: fail_mode open changes nothing';

$redis->stop;

is $nginx->get('/api/x', 'X-API-Key' => $key->{token})->{status}, 503, 'closed (default): 503';

my @open = map { $nginx->get('/lenient/x', 'X-API-Key' => $key->{token}) } 1 .. 5;
is $_->{status}, 200, 'open: the request passes' for @open;
unlike $open[0]{body}, qr/\Q$key->{token}\E/, 'open: the key is still stripped';
is $nginx->get('/lenient/x', 'X-API-Key' => $weak->{token})->{status}, 200,
    'open: even a key Redis would refuse (nothing can be checked)';
is $nginx->get('/lenient/x')->{status}, 401, 'open: a missing key is still 401 (no Redis needed)';
is $nginx->get('/lenient/x', 'X-API-Key' => 'garbage')->{status}, 401,
    'open: a malformed key is still 401';

my @log = $nginx->access_log_lines(10);
ok((grep { $_->[6] =~ m{^/lenient/} && $_->[1] eq 'error' && $_->[2] eq '200' } @log) >= 5,
   '$apikey_result is "error" on the requests let through');
my $warnings = () = $nginx->error_log =~ /\[warn\].*passing requests unchecked \(apikey_fail_mode open\)/g;
ok $warnings >= 1 && $warnings <= 2, "a warning, at most once a second ($warnings)";

$nginx->stop;

# two workers: still one warning a second, not one per worker
{
    my $two = ApikeyTest::Nginx->start(
        redis => $redis, workers => 2,
        location => 'apikey on; apikey_fail_mode open; add_header X-Worker $pid always;');
    my (%workers, $answered);
    my $until = time + 2.2;
    while (time < $until) {
        for ($two->parallel(20, 'GET', '/api/x', 'X-API-Key' => $key->{token})) {
            $answered++ if $_->{status} == 200;
            my $pid = ApikeyTest::Nginx::header($_, 'X-Worker');
            $workers{$pid}++ if $pid;
        }
    }
    ok $answered, "fail open with two workers: $answered requests passed";
    my %per_second;
    open my $log, '<', $two->dir . '/logs/error.log' or die;
    while (<$log>) {
        next unless index($_, '[warn]') > 0 && /^(\S+ \S+) \[warn\].*passing requests unchecked/;
        $per_second{$1}++;
    }
    my ($most) = sort { $b <=> $a } values %per_second;
    SKIP: {
        skip 'one worker took every connection', 1 if keys %workers < 2;
        is $most, 1, sprintf('both workers answered (%s), one warning a second between them',
                             join(' and ', map { "$_ requests" } values %workers));
    }
    $two->stop;
}

my ($ok, $out) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379',
                                              location => 'apikey on; apikey_fail_mode ajar;');
ok !$ok, 'nginx -t refuses apikey_fail_mode ajar';
like $out, qr/invalid value "ajar"/, 'with a clear message';

done_testing;
