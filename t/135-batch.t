# apikey_redis_batch: the checks that become ready in one turn of a worker's
# event loop go to Redis as one call of the script, which runs each as its own
# call would. One table of cases goes through a batching nginx and one with
# apikey_redis_batch off, each with its own Redis holding the same keys: the
# answers (status, RateLimit fields, Retry-After, WWW-Authenticate, body) and
# what is left in Redis are the same. Then the same key several times in one
# batch, a check that fails inside a batch, SCRIPT FLUSH (NOSCRIPT) and a
# paused Redis (every check of the batch times out).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use ApikeyTest;

my $batched_redis = ApikeyTest::Redis->start;
my $single_redis = ApikeyTest::Redis->start;

# the keys, made once and copied to the other Redis
my %key;
sub make {
    my ($name, @args) = @_;
    my ($status, $out, $err) = $batched_redis->cli('create', '--json', '--name', $name, @args);
    die $err if $status;
    $key{$name} = ApikeyTest::json_of($out);
}
make('good', '--scope', 'read');
make('own limits', '--scope', 'read', '--limit', '2r/h:2');
make('no scope');
make('revoked', '--scope', 'read');
$batched_redis->cli('revoke', $key{revoked}{id});
make('disabled', '--scope', 'read');
$batched_redis->cli('disable', $key{disabled}{id});
make('expired', '--scope', 'read');
$batched_redis->cmd('HSET', "apikey:key:{$key{expired}{id}}", 'expires', time - 60);
make('test env', '--scope', 'read', '--env', 'test');
make('elsewhere', '--scope', 'read', '--allow-ip', '10.0.0.0/8');
make('broken', '--scope', 'read');   # a record the check cannot read: 503, its own
$batched_redis->cmd('HSET', "apikey:key:{$key{broken}{id}}", 'status', 'paused');
my @all = split /\n/, $batched_redis->cmd('KEYS', 'apikey:*');
like $batched_redis->cmd('MIGRATE', '127.0.0.1', $single_redis->port, '', 0, 5000, 'COPY', 'KEYS', @all),
    qr/OK/, 'the same keys in both Redis servers';

my $forged = ApikeyTest::with_checksum('ak_live_zzzzzzzzzzzz_' . ('A' x 40));
my %token = ((map { $_ => $key{$_}{token} } keys %key), unknown => $forged, malformed => 'nope');

my $location = 'apikey on; apikey_scope read; apikey_env live; apikey_limit 5r/h burst=5;';
my $metrics = 'location = /metrics { apikey_metrics; }';
my $batched = ApikeyTest::Nginx->start(redis => $batched_redis, location => $location,
                                       server => $metrics);
my $single = ApikeyTest::Nginx->start(redis => $single_redis, location => $location,
                                      server => $metrics, http => 'apikey_redis_batch off;');

sub metric {
    my ($nginx, $name) = @_;
    return $nginx->get('/metrics')->{body} =~ /^\Q$name\E (\d+)$/m ? $1 : -1;
}

# every case at once, so that they are ready in the same turn: the
# connections are opened (and accepted) first, the worker is stopped while the
# requests are written, and goes on with all of them readable at once. The
# answer of each, as far as a client can see it.
sub burst {
    my ($nginx, @names) = @_;
    my @socks = map { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $nginx->port,
                                            Proto => 'tcp') or die "connect: $!" } @names;
    sleep 0.2;   # accepted: nginx takes one connection per turn
    my @workers = $nginx->worker_pids;
    kill 'STOP', @workers;
    for my $i (0 .. $#names) {
        $socks[$i]->syswrite("GET /api/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                             . "X-API-Key: $token{$names[$i]}\r\n\r\n");
    }
    sleep 0.05;
    kill 'CONT', @workers;
    my @out;
    for my $i (0 .. $#names) {
        my $res = $nginx->read_response($socks[$i]);
        push @out, [$names[$i], join ' | ', $res->{status},
                    map({ "$_: " . (ApikeyTest::Nginx::header($res, $_) // '-') }
                        qw(RateLimit RateLimit-Policy Retry-After WWW-Authenticate)),
                    $res->{body} // ''];
    }
    return @out;
}

# The two bursts run a moment apart, so a wait in seconds (t=, Retry-After,
# retry_after) may cross a second's boundary between them: those agree within
# one second, everything else exactly.
sub same_answer {
    my ($x, $y) = @_;
    my $waits = qr/(t=|Retry-After: |Retry after |"retry_after":)(\d+)/;
    my @wx = map { $_ } $x =~ /$waits/g;
    my @wy = map { $_ } $y =~ /$waits/g;
    (my $sx = $x) =~ s/$waits/$1S/g;
    (my $sy = $y) =~ s/$waits/$1S/g;
    return 0 if $sx ne $sy || @wx != @wy;
    for (my $i = 1; $i < @wx; $i += 2) {
        return 0 if abs($wx[$i] - $wy[$i]) > 1;
    }
    return 1;
}

my @cases = sort keys %token;
my $rounds = 7;   # the 5-token buckets run out on the way: 429s too
for my $round (1 .. $rounds) {
    my %b = map { @$_ } burst($batched, @cases);
    my %s = map { @$_ } burst($single, @cases);
    for my $case (@cases) {
        ok same_answer($b{$case}, $s{$case}), "round $round, $case: the same answer batched and not"
            or diag "batched: $b{$case}\nsingle:  $s{$case}";
    }
}
cmp_ok metric($batched, 'apikey_redis_batches_total'), '>', 0, 'the batching nginx sent batches';
cmp_ok metric($batched, 'apikey_redis_batched_checks_total'), '>=',
       2 * metric($batched, 'apikey_redis_batches_total'), '... of two checks or more';
is metric($single, 'apikey_redis_batches_total'), 0, 'apikey_redis_batch off: none';
my $evalsha_b = $batched_redis->calls('evalsha');
my $evalsha_s = $single_redis->calls('evalsha');
cmp_ok $evalsha_b, '<', $evalsha_s, "fewer script calls batched ($evalsha_b) than not ($evalsha_s)";
note "batches: " . metric($batched, 'apikey_redis_batches_total') . ", checks in them: "
     . metric($batched, 'apikey_redis_batched_checks_total');

# what is left in Redis: the same keys, records and bucket states (bucket
# times differ by when each request ran: compared as tokens left)
sub state_of {
    my ($redis) = @_;
    my %state;
    for my $k (split /\n/, $redis->cmd('KEYS', 'apikey:*')) {
        my $type = $redis->cmd('TYPE', $k);
        if ($type eq 'hash') {
            my %h = split /\n/, $redis->cmd('HGETALL', $k);
            $h{last_used} = 'set' if defined $h{last_used};   # a second apart at most
            $state{$k} = join ',', map { "$_=$h{$_}" } sort keys %h;
        } elsif ($type eq 'string') {
            my ($now) = split /\n/, $redis->cmd('TIME');
            # interval:burst:tat per bucket; tokens left = burst - ceil((tat - now) / interval)
            $state{$k} = join ' ', map {
                my ($iv, $b, $tat) = split /:/;
                my $used = ($tat - $now * 1e6) / $iv;
                "$iv:$b:" . int($b - $used + 0.5);
            } split ' ', $redis->cmd('GET', $k);
        } else {
            $state{$k} = $type;
        }
    }
    return \%state;
}
# usage counts reach Redis at most a second after their requests (each worker
# flushes at most once a second): wait for both sides' last flush
{
    use Data::Dumper;
    local $Data::Dumper::Sortkeys = 1;
    for (1 .. 30) {
        last if Dumper(state_of($batched_redis)) eq Dumper(state_of($single_redis));
        select undef, undef, undef, 0.1;
    }
}
is_deeply state_of($batched_redis), state_of($single_redis), 'the same state in Redis';

# one key many times in one batch: tokens are taken in arrival order, and
# exactly the bucket's worth pass
{
    make('crowd', '--scope', 'read', '--limit', '3r/h:3');
    $token{crowd} = $key{crowd}{token};
    my $before = metric($batched, 'apikey_redis_batched_checks_total');
    my @answers = burst($batched, ('crowd') x 8);
    my @statuses = sort map { (split / \| /, $_->[1])[0] } @answers;
    is_deeply \@statuses, [(200) x 3, (429) x 5], 'one key eight times at once: three pass, five 429';
    my @left = sort map { $_->[1] =~ /RateLimit: "default";r=(\d+)/ ? $1 : () }
               grep { $_->[1] =~ /^200/ } @answers;
    is_deeply \@left, [0, 1, 2], '... taking the tokens one after the other';
    cmp_ok metric($batched, 'apikey_redis_batched_checks_total'), '>', $before, '... batched';
}

# SCRIPT FLUSH: the batch's NOSCRIPT loads the script again, once, and every
# check of it is answered
{
    make('after flush', '--scope', 'read');
    $token{'after flush'} = $key{'after flush'}{token};
    $batched_redis->cmd('SCRIPT', 'FLUSH');
    $batched_redis->cmd('CONFIG', 'RESETSTAT');
    my @answers = burst($batched, ('after flush') x 4, 'revoked', 'unknown');
    is_deeply [map { (split / \| /, $_->[1])[0] } @answers], [200, 200, 200, 200, 401, 401],
        'after SCRIPT FLUSH: every check of the batch answered';
    cmp_ok $batched_redis->calls('script'), '<=', 4,
        '... loading the scripts again once per call that met NOSCRIPT, not once per check';
}

# a paused Redis: every check of the batch times out (503), and when Redis
# runs the batch later, past their deadlines, it changes nothing
{
    make('paused', '--scope', 'read');
    $token{paused} = $key{paused}{token};
    my $paused = ApikeyTest::Nginx->start(redis => $batched_redis, server => $metrics,
                                          location => "$location apikey_redis_timeout 300ms;");
    is $paused->get('/api/x', 'X-API-Key' => $token{paused})->{status}, 200, 'a fresh nginx: ready';
    my $bucket = $batched_redis->cmd('GET', "apikey:bucket:{$key{paused}{id}}:default");
    $batched_redis->cmd('CONFIG', 'RESETSTAT');
    kill 'STOP', $batched_redis->pid;
    my $t0 = time;
    my @answers = burst($paused, ('paused') x 3, 'good', 'no scope');
    my $waited = time - $t0;
    is_deeply [map { (split / \| /, $_->[1])[0] } @answers], [(503) x 5],
        'Redis paused: every check of the batch gets its 503';
    cmp_ok $waited, '<', 3, '... at its timeout';
    sleep 0.3;
    kill 'CONT', $batched_redis->pid;
    ApikeyTest::poll_until(3, sub { $batched_redis->calls('evalsha') > 0 });
    is $batched_redis->cmd('GET', "apikey:bucket:{$key{paused}{id}}:default"), $bucket,
        '... and the batch Redis ran late took no token';
    is $paused->get('/api/x', 'X-API-Key' => $token{paused})->{status}, 200, 'answered again after';
    is metric($paused, 'apikey_redis_batches_total'), 1, '... the five checks were one batch';
    $paused->stop;
}

# nginx -t
my (undef, $bad) = ApikeyTest::Nginx->test_conf(http => 'apikey_redis_batch maybe;');
like $bad, qr/invalid value "maybe" in "apikey_redis_batch" directive/, 'nginx -t: on or off';
my (undef, $where) = ApikeyTest::Nginx->test_conf(location => 'apikey on; apikey_redis_batch off;');
like $where, qr/"apikey_redis_batch" directive is not allowed here/, 'nginx -t: http level only';

ApikeyTest::Nginx::check_logs($batched) if defined &ApikeyTest::Nginx::check_logs;
unlike $batched->error_log, qr/\[(alert|emerg|crit)\]/, 'error log: no alert, emerg or crit';

done_testing;
