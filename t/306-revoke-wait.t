# Revocation you can confirm: apikeyctl revoke|rotate|delete|disable --wait
# returns once every worker of every nginx on this Redis has dropped the key
# from its apikey_cache, or names, by instance and worker, those that did not.
# Two instances of two workers; one paused with SIGSTOP is named; one killed
# drops out of the list once its announcement expires, one stopped at once;
# the admin API's ?wait=; the lag histogram.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use JSON::PP;
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my %conf = (
    redis => $redis,
    workers => 2,
    # announcements renewed every 2 s: they live 6 s, so a worker paused for
    # the two 1 s waits below is still announced (named as unconfirmed), and
    # one stopped is out of the list 6 s later
    http => 'apikey_cache zone=apikeys:1m ttl=60s announce=2s;',
    location => 'apikey on; apikey_limit off;',
    server => "        location = /metrics { apikey_metrics; }\n"
              . "        location /admin/ { apikey_admin auth=off; }\n",
);
my $na = ApikeyTest::Nginx->start(%conf);
my $nb = ApikeyTest::Nginx->start(%conf);
ok poll_until(30, sub { $redis->subscribers >= 4 }), 'four workers subscribed';

my @a_workers = sort { $a <=> $b } $na->worker_pids;
my @b_workers = sort { $a <=> $b } $nb->worker_pids;
is scalar @a_workers, 2, 'A has two workers';
is scalar @b_workers, 2, 'B has two workers';
my $a_name = qr/instance [^\s:]+:${\ $na->master_pid}: workers? /;
my $b_name = qr/instance [^\s:]+:${\ $nb->master_pid}: workers? /;

sub live {
    my ($s, $us) = split /\n/, $redis->cmd('TIME');
    my $ms = $s * 1000 + int($us / 1000);
    return sort grep { length } split /\n/, $redis->cmd('ZRANGEBYSCORE', 'apikey:workers', "($ms", '+inf');
}
ok poll_until(10, sub { my @l = live(); @l == 4 }), 'every worker announced itself in apikey:workers'
    or diag explain [live()];
for my $pid (@a_workers, @b_workers) {
    like join(' ', live()), qr/:\Q$pid\E\b/, "worker $pid is announced";
}

sub st { my ($n, $t) = @_; $n->get('/api/x', 'X-API-Key' => $t)->{status} }

# the admin API of one instance (auth=off: the location is the operator's)
sub admin {
    my ($n, $method, $path) = @_;
    my $res = $n->request($method, $path, ':body' => '{}', 'Content-Type' => 'application/json');
    $res->{json} = eval { decode_json($res->{body}) } if length($res->{body} // '');
    return $res;
}
sub pids { [sort { $a <=> $b } map { $_->{worker} } @{ $_[0] // [] }] }

# a key used on both instances, by enough requests to reach both workers
sub cached_everywhere {
    my ($key) = @_;
    for my $n ($na, $nb) {
        is st($n, $key->{token}), 200, 'used: cached' for 1 .. 4;
    }
}

my $lag_before = lag_count();

# --wait: every worker acknowledged; the key is refused everywhere at once
my $k1 = $redis->create_key(name => 'one');
cached_everywhere($k1);
my ($rc, $out, $err) = $redis->cli('revoke', $k1->{id}, '--wait', '5');
is $rc, 0, 'revoke --wait 5: exit 0' or diag $err;
like $out, qr/Confirmed by 4 workers of 2 instances/, '... four workers of two instances confirmed';
like $out, $a_name, '... instance A is named';
like $out, $b_name, '... instance B is named';
is st($na, $k1->{token}), 401, 'refused by A right after';
is st($nb, $k1->{token}), 401, 'refused by B right after';

# --json: a "wait" member with the workers
my $k2 = $redis->create_key(name => 'two');
cached_everywhere($k2);
($rc, $out, $err) = $redis->cli('disable', $k2->{id}, '--wait=5s', '--json');
is $rc, 0, 'disable --wait=5s --json: exit 0' or diag $err;
my $j = eval { decode_json($out) } // {};
is $j->{status}, 'disabled', '... the key as before';
ok $j->{wait}{confirmed_all}, '... wait.confirmed_all';
is scalar @{ $j->{wait}{confirmed} // [] }, 4, '... four confirmed workers';
is_deeply [sort { $a <=> $b } map { $_->{worker} } @{ $j->{wait}{confirmed} // [] }],
          [sort { $a <=> $b } @a_workers, @b_workers], '... by pid';
is_deeply $j->{wait}{unconfirmed}, [], '... none unconfirmed';
is st($_, $k2->{token}), 401, 'disabled everywhere' for $na, $nb;

# rotate and delete wait the same way
my $k3 = $redis->create_key(name => 'three');
cached_everywhere($k3);
($rc, $out, $err) = $redis->cli('rotate', $k3->{id}, '--wait');
is $rc, 0, 'rotate --wait (default timeout): exit 0' or diag $err;
like $out, qr/Confirmed by 4 workers/, '... four workers';
is st($_, $k3->{token}), 401, 'the old token refused everywhere' for $na, $nb;
($rc, $out, $err) = $redis->cli('delete', $k3->{id}, '--wait', '5', '--json');
is $rc, 0, 'delete --wait 5 --json: exit 0' or diag $err;
$j = eval { decode_json($out) } // {};
ok $j->{deleted} && $j->{wait}{confirmed_all}, '... deleted, confirmed by all' or diag $out;

# the admin API: ?wait= on revoke, rotate, disable and delete
for my $route (qw(revoke rotate disable)) {
    my $k = $redis->create_key(name => "admin $route");
    cached_everywhere($k);
    my $res = admin($na, 'POST', "/admin/keys/$k->{id}/$route?wait=5s");
    is $res->{status}, 200, "POST $route?wait=5s: 200" or diag $res->{body};
    is $res->{json}{id}, $k->{id}, '... the key, as without wait';
    ok $res->{json}{wait}{confirmed_all}, '... wait.confirmed_all';
    is_deeply pids($res->{json}{wait}{confirmed}), [sort { $a <=> $b } @a_workers, @b_workers],
        '... all four workers, by pid';
    is_deeply $res->{json}{wait}{unconfirmed}, [], '... none unconfirmed';
    is st($_, $k->{token}), 401, "$route: refused everywhere right after" for $na, $nb;
}
{
    my $k = $redis->create_key(name => 'admin delete');
    cached_everywhere($k);
    my $res = admin($na, 'DELETE', "/admin/keys/$k->{id}?wait=5s");
    is $res->{status}, 200, 'DELETE ?wait=5s: 200 with a body (not 204)' or diag $res->{body};
    ok $res->{json}{deleted} && $res->{json}{wait}{confirmed_all}, '... deleted, confirmed by all';
    is st($_, $k->{token}), 401, 'deleted: refused everywhere' for $na, $nb;
    $k = $redis->create_key(name => 'bad wait');
    for my $bad ('0', '61s', 'x', '1h') {
        $res = admin($na, 'POST', "/admin/keys/$k->{id}/revoke?wait=$bad");
        is $res->{status}, 400, "wait=$bad: 400";
    }
    like admin($na, 'POST', "/admin/keys/$k->{id}/revoke?wait=0")->{json}{message}, qr/1ms to 60s/,
        '... saying what a wait is';
    is admin($na, 'POST', "/admin/keys/$k->{id}/enable?wait=1s")->{status}, 400,
        'wait on enable: 400';

    # a deadline before the first look (every 25 ms): the workers announced
    # are unconfirmed, not gone (a worker announced by hand never answers)
    my $g = $redis->create_key(name => 'deadline');
    $redis->cmd('ZADD', 'apikey:workers', '99999999999999', 'ghost:1:2');
    $res = admin($na, 'POST', "/admin/keys/$g->{id}/revoke?wait=10ms");
    $redis->cmd('ZREM', 'apikey:workers', 'ghost:1:2');
    is $res->{status}, 202, 'wait=10ms with a worker that never answers: 202' or diag $res->{body};
    ok scalar(grep { $_->{instance} eq 'ghost:1' } @{ $res->{json}{wait}{unconfirmed} // [] }),
        '... it is unconfirmed, not gone';
    is_deeply $res->{json}{wait}{gone}, [], '... nobody is gone';

    # what apikeyctl prints of a member is escaped for the terminal
    my $e = $redis->create_key(name => 'escape');
    $redis->cmd('ZADD', 'apikey:workers', '99999999999999', "evil\e]0;x\a:1:2");
    my ($rc, $out, $err) = $redis->cli('revoke', $e->{id}, '--wait', '100ms');
    $redis->cmd('ZREM', 'apikey:workers', "evil\e]0;x\a:1:2");
    is $rc, 3, 'a worker announced by hand that never answers: exit 3';
    like $err, qr/instance evil\\e\]0;x\\x07:1: worker 2/, '... named, escaped for the terminal';
    unlike $err, qr/\e/, '... no escape character reaches it';
    is st($na, $k->{token}), 200, '... and nothing was changed';
}

# the lag histogram counts one observation per worker per message
ok poll_until(5, sub { lag_count() >= $lag_before + 16 }),
    'apikey_invalidation_lag_seconds counted every worker of every wait (4 x 4)'
    or diag lag_count() - $lag_before;
my $metrics = $na->get('/metrics')->{body};
like $metrics, qr/^# TYPE apikey_invalidation_lag_seconds histogram$/m, 'a histogram';
like $metrics, qr/^apikey_invalidation_lag_seconds_bucket\{le="0\.001000"\} \d+$/m, 'from 1 ms';
like $metrics, qr/^apikey_invalidation_lag_seconds_bucket\{le="10\.000000"\} \d+$/m, 'to 10 s';
like $metrics, qr/^apikey_invalidation_lag_seconds_bucket\{le="\+Inf"\} \d+$/m, 'and +Inf';

# an old-format message (the id alone) still invalidates
my $k4 = $redis->create_key(name => 'four');
cached_everywhere($k4);
$redis->cmd('HSET', "apikey:key:{$k4->{id}}", 'status', 'revoked');
is st($na, $k4->{token}), 200, 'a change behind the cache\'s back is not seen yet';
$redis->cmd('PUBLISH', 'apikey:invalidate', $k4->{id});
ok poll_until(5, sub { st($na, $k4->{token}) == 401 && st($nb, $k4->{token}) == 401 }),
    'the bare id, as before, drops it';

# instance B paused: --wait names it and its two workers, exit 3
my $k5 = $redis->create_key(name => 'five');
cached_everywhere($k5);
kill 'STOP', $nb->master_pid, @b_workers;
my $t0 = time;
($rc, $out, $err) = $redis->cli('revoke', $k5->{id}, '--wait', '1');
my $took = time - $t0;
my $k5b = $redis->create_key(name => 'five b');
is st($na, $k5b->{token}), 200, 'cached on A' for 1 .. 2;
my $paused = admin($na, 'POST', "/admin/keys/$k5b->{id}/revoke?wait=1s");
kill 'CONT', $nb->master_pid, @b_workers;
is $rc, 3, 'B paused: revoke --wait 1 exits 3' or diag "$out\n$err";
like $err, qr/not confirmed within 1s by 2 of 4 workers/, '... 2 of 4 workers did not confirm';
like $err, qr/$b_name\Q$b_workers[0], $b_workers[1]\E/, '... B and both its workers are named';
unlike $err, $a_name, '... not A';
like $out, qr/Confirmed by 2 workers/, '... A\'s two confirmed';
ok $took >= 0.9 && $took < 5, sprintf('... after the timeout (%.1f s)', $took);
is $paused->{status}, 202, 'B paused: POST revoke?wait=1s answers 202' or diag $paused->{body};
is $paused->{json}{status}, 'revoked', '... the key is revoked all the same';
ok !$paused->{json}{wait}{confirmed_all}, '... not confirmed by all';
is_deeply pids($paused->{json}{wait}{unconfirmed}), \@b_workers, '... B\'s two workers unconfirmed';
is_deeply [map { $_->{instance} } @{ $paused->{json}{wait}{unconfirmed} }],
          [map { $paused->{json}{wait}{unconfirmed}[0]{instance} } 1 .. 2], '... one instance';
like $paused->{json}{wait}{unconfirmed}[0]{instance}, qr/:\Q${\ $nb->master_pid}\E$/, '... B\'s';
is_deeply pids($paused->{json}{wait}{confirmed}), \@a_workers, '... A\'s confirmed';
is st($na, $k5->{token}), 401, 'A refuses it';
ok poll_until(5, sub { st($nb, $k5->{token}) == 401 }), 'B, resumed, refuses it too';

# instance C stopped gracefully: its workers withdraw their announcements as
# they exit, at once rather than when they expire
# (named with instance=)
my $nc = ApikeyTest::Nginx->start(%conf, http => 'apikey_cache zone=apikeys:1m instance=edge-c.example announce=2s;');
ok poll_until(10, sub { my @l = live(); @l == 6 }), 'a third instance: six workers announced';
is scalar(grep { /^edge-c\.example:\d+$/ } live()), 2, '... two of them as instance=edge-c.example';
$t0 = time;
$nc->stop;
ok poll_until(5, sub { my @l = live(); @l == 4 }), 'C stopped: its workers are withdrawn';
ok time - $t0 < 3, sprintf('... before their announcements (6 s) would expire (%.1f s)', time - $t0);

# instance B killed (no goodbye): once its announcement expired, it is no
# longer waited for
kill 'KILL', $nb->master_pid, @b_workers;
$t0 = time;
ok poll_until(10, sub { my @l = live(); @l == 2 }), 'B\'s workers expired from apikey:workers'
    or diag explain [live()];
ok time - $t0 > 1, sprintf('... when their announcements expired (%.1f s)', time - $t0);
$nb->stop;
my $k6 = $redis->create_key(name => 'six');
is st($na, $k6->{token}), 200, 'cached on A' for 1 .. 2;
($rc, $out, $err) = $redis->cli('revoke', $k6->{id}, '--wait', '2');
is $rc, 0, 'B stopped: revoke --wait 2 exits 0' or diag $err;
like $out, qr/Confirmed by 2 workers of 1 instance\b/, '... A\'s two workers';
unlike "$out$err", $b_name, '... B is not listed';
my $k7 = $redis->create_key(name => 'seven');
is st($na, $k7->{token}), 200, 'cached on A' for 1 .. 2;
my $res = admin($na, 'POST', "/admin/keys/$k7->{id}/revoke?wait=2s");
is $res->{status}, 200, 'B stopped: POST revoke?wait=2s: 200';
is_deeply pids($res->{json}{wait}{confirmed}), \@a_workers, '... A\'s two workers only';

# usage
($rc, $out, $err) = $redis->cli('revoke', $k6->{id}, '--wait=0');
is $rc, 2, 'a bad timeout is a usage error';
like $err, qr/invalid --wait timeout/, '... named';

$na->stop;

# the directive's new parameters, checked at nginx -t
for my $bad (['instance=a b', qr/invalid instance "instance=a"|invalid parameter "b"/],
             ['instance=', qr/invalid instance "instance="/],
             ['instance=a/b', qr/invalid instance "instance=a\/b"/],
             ['announce=50ms', qr/invalid announce "announce=50ms" \(100ms to 1h\)/],
             ['announce=2h', qr/invalid announce/],
             ['announce=soon', qr/invalid announce/]) {
    my ($ok, $msg) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379',
        http => "apikey_cache zone=apikeys:1m $bad->[0];");
    ok !$ok, "apikey_cache $bad->[0]: refused";
    like $msg, $bad->[1], '... with a clear message';
}
my ($ok, $msg) = ApikeyTest::Nginx->test_conf(redis_address => '127.0.0.1:6379',
    http => 'apikey_cache zone=apikeys:1m instance=web-1.example:a_b announce=100ms;');
ok $ok, 'instance= and announce= that are fine' or diag $msg;

done_testing;

sub lag_count {
    my $n = 0;
    for my $nginx ($na, $nb) {
        next if $nginx->{stopped};
        my $m = $nginx->get('/metrics')->{body} // '';
        $n += $1 if $m =~ /^apikey_invalidation_lag_seconds_count (\d+)$/m;
    }
    return $n;
}
