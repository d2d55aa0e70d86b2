# Calendar quotas and credits through apikeyctl: --quota, --credits and
# --refill on create and update (and --no-* to remove them), a plan's --quota
# copied into plan_quota of its keys and re-copied by every plan update,
# "apikeyctl credits" (--set, --add, audited, never below 0), "limits --reset"
# deleting the quota counters, and the JSON of it all. The exact Redis fields
# are the data model the check script reads.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::Local qw(timegm);
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my ($st, $out, $err);

sub field { $redis->cmd('HGET', "apikey:key:{$_[0]}", $_[1]) }
sub has_field { $redis->cmd('HEXISTS', "apikey:key:{$_[0]}", $_[1]) }
sub last_event {
    my ($id) = @_;
    my (undef, $json) = $redis->cli('audit', $id, '--limit', '1', '--json');
    return (json_of($json) // [])->[0] // {};
}

my $now = time;
my $day_start = $now - $now % 86400;
my @t = gmtime $now;
my $month_start = timegm(0, 0, 0, 1, $t[4], $t[5] + 1900);

# create: the exact fields
($st, $out, $err) = $redis->cli('create', '--name', 'metered', '--quota', '1000000/month',
                                '--quota', '500/day', '--credits', '250', '--refill', '1000/month',
                                '--json');
is $st, 0, 'create --quota --quota --credits --refill exits 0' or diag $err;
my $key = json_of($out);
my $id = $key->{id};
is field($id, 'quota'), '1000000/month 500/day', 'quota: the items as given, space separated';
is field($id, 'credits'), '250', 'credits';
is field($id, 'credits_granted'), '250', 'credits_granted';
is field($id, 'refill'), '1000/month', 'refill';
is field($id, 'refilled'), $month_start, 'refilled: the start of this UTC month (no refill before the next)';
is has_field($id, 'plan_quota'), '0', 'no plan, no plan_quota';
is $key->{quota}, '1000000/month 500/day', 'create --json: quota';
is $key->{credits}, 250, 'credits';
is $key->{credits_granted}, 250, 'credits_granted';
is $key->{refill}, '1000/month', 'refill';

# --refill without --credits: the key starts with N
($st, $out) = $redis->cli('create', '--name', 'refilled', '--refill', '40/day', '--json');
is $st, 0, 'create --refill alone';
my $rid = json_of($out)->{id};
is field($rid, 'credits'), '40', 'credits = N';
is field($rid, 'credits_granted'), '40', 'credits_granted = N';
is field($rid, 'refilled'), $day_start, 'refilled: the start of this UTC day';

# a key without any: none of the fields, none in the JSON
($st, $out) = $redis->cli('create', '--name', 'plain', '--json');
my $plain = json_of($out);
for my $f (qw(quota plan_quota credits credits_granted refill refilled)) {
    is has_field($plain->{id}, $f), '0', "a plain key has no $f";
    ok !exists $plain->{$f}, "and no $f in its JSON";
}

# usage errors: exit 2, a clear message, nothing written
my $records = () = split /\n/, $redis->cmd('KEYS', 'apikey:key:*');
for my $case (
    [['--quota', '5/year'], qr/invalid --quota: quota "5\/year": the period is day, week or month/],
    [['--quota', '0/day'], qr/invalid --quota: .*N must be a whole number from 1/],
    [['--quota', '1/day', '--quota', '2/day'], qr/at most one quota per period/],
    [['--quota', '1/day', '--quota', '1/week', '--quota', '1/month', '--quota', '2/week'], qr/at most/],
    [['--quota', '1/day 2/week'], qr/invalid --quota/],
    [['--credits', '-1'], qr/invalid --credits "-1": a whole number from 0 to 1000000000000/],
    [['--credits', '1000000000001'], qr/invalid --credits/],
    [['--credits', 'lots'], qr/invalid --credits/],
    [['--refill', '5/week'], qr/invalid --refill: .*the period is day or month/],
    [['--refill', '5'], qr/invalid --refill/],
    [['--no-quota'], qr/unknown option|does not take|no-quota/],
) {
    my ($args, $re) = @$case;
    ($st, undef, $err) = $redis->cli('create', '--name', 'bad', @$args);
    is $st, 2, "create @$args: exit 2";
    like $err, $re, 'with a clear message';
}
is scalar(() = split /\n/, $redis->cmd('KEYS', 'apikey:key:*')), $records, 'no record written';

# update: replace, then remove
($st, $out, $err) = $redis->cli('update', $id, '--quota', '10/week', '--credits', '7', '--json');
is $st, 0, 'update --quota --credits' or diag $err;
is field($id, 'quota'), '10/week', 'quota replaced';
is field($id, 'credits'), '7', 'credits granted again';
is field($id, 'credits_granted'), '7', 'and credits_granted';
is field($id, 'refill'), '1000/month', 'the refill stays';
is json_of($out)->{quota}, '10/week', 'update --json: quota';
($st, undef, $err) = $redis->cli('update', $id, '--quota', '1/day', '--no-quota');
is $st, 2, '--quota and --no-quota: exit 2';
like $err, qr/--quota and --no-quota exclude each other/, 'and says so';
($st, undef, $err) = $redis->cli('update', $id, '--credits', '1', '--no-credits');
is $st, 2, '--credits and --no-credits: exit 2';
($st, undef, $err) = $redis->cli('update', $id, '--refill', '1/day', '--no-credits');
is $st, 2, '--refill and --no-credits: exit 2';
like $err, qr/--no-credits removes the refill too/, 'and says why';
($st, undef, $err) = $redis->cli('update', $id, '--refill', '1/day', '--no-refill');
is $st, 2, '--refill and --no-refill: exit 2';

($st, undef, $err) = $redis->cli('update', $rid, '--refill', '60/month');
is $st, 0, 'update --refill' or diag $err;
is field($rid, 'refill'), '60/month', 'the new refill';
is field($rid, 'refilled'), $month_start, 'counted from this month: the first refill is the next';
is field($rid, 'credits'), '40', 'the credits stay';
($st) = $redis->cli('update', $rid, '--no-refill');
is $st, 0, 'update --no-refill';
is has_field($rid, 'refill') . has_field($rid, 'refilled'), '00', 'refill and refilled removed';
is field($rid, 'credits'), '40', 'the credits stay';

($st) = $redis->cli('update', $id, '--no-quota', '--no-credits');
is $st, 0, 'update --no-quota --no-credits';
for my $f (qw(quota credits credits_granted refill refilled)) {
    is has_field($id, $f), '0', "$f removed";
}
($st, $out) = $redis->cli('show', $id, '--json');
ok !exists json_of($out)->{credits}, 'show --json: no credits (unlimited)';
($st, $out) = $redis->cli('show', $id);
like $out, qr/^Credits\s+\(unlimited\)$/m, 'show: unlimited';

# plans: --quota copies into plan_quota, every plan update re-copies
($st, $out, $err) = $redis->cli('plan', 'create', 'metered', '--limit', '600r/m', '--quota',
                                '1000/day', '--json');
is $st, 0, 'plan create --quota' or diag $err;
is json_of($out)->{quota}, '1000/day', 'plan --json: quota';
is $redis->cmd('HGET', 'apikey:plan:metered', 'quota'), '1000/day', 'the plan hash holds quota';
($st, undef, $err) = $redis->cli('plan', 'create', 'quotaonly', '--quota', '5/month');
is $st, 0, 'a plan may hold only a quota' or diag $err;
($st, undef, $err) = $redis->cli('plan', 'create', 'bad', '--quota', '5/year');
is $st, 2, 'plan create with an invalid --quota: exit 2';
($st, undef, $err) = $redis->cli('role', 'create', 'r', '--scope', 'a', '--quota', '5/day');
is $st, 2, 'a role takes no --quota';

($st, $out) = $redis->cli('create', '--name', 'on plan', '--plan', 'metered', '--json');
my $pk = json_of($out);
is field($pk->{id}, 'plan_quota'), '1000/day', 'a new key of the plan: plan_quota copied';
is $pk->{plan_quota}, '1000/day', 'create --json: plan_quota';
ok !exists $pk->{quota}, 'and no quota of its own';
($st) = $redis->cli('update', $plain->{id}, '--plan', 'metered');
is field($plain->{id}, 'plan_quota'), '1000/day', 'update --plan: plan_quota copied';

($st, $out, $err) = $redis->cli('plan', 'update', 'metered', '--quota', '2000/day', '--quota', '9/week');
is $st, 0, 'plan update --quota' or diag $err;
like $out, qr/and its 2 keys/, 'both keys updated';
is field($pk->{id}, 'plan_quota'), '2000/day 9/week', 'plan update re-copies plan_quota';
is field($plain->{id}, 'plan_quota'), '2000/day 9/week', 'into every key of the plan';
is field($pk->{id}, 'plan_limits'), '600r/m:600', 'plan_limits untouched by a quota-only update';
($st) = $redis->cli('plan', 'update', 'metered', '--limit', '60r/m');
is field($pk->{id}, 'plan_quota'), '2000/day 9/week', 'a limits-only update keeps plan_quota';
is field($pk->{id}, 'plan_limits'), '60r/m:60', 'and re-copies plan_limits';
($st) = $redis->cli('update', $pk->{id}, '--plan', 'quotaonly');
is field($pk->{id}, 'plan_quota'), '5/month', 'moving to another plan: its quota';
is has_field($pk->{id}, 'plan_limits'), '0', 'and no limits copy (it has none)';
($st) = $redis->cli('plan', 'update', 'metered', '--no-quota');
is $st, 0, 'plan update --no-quota';
is $redis->cmd('HEXISTS', 'apikey:plan:metered', 'quota'), '0', 'the plan hash loses quota';
is has_field($plain->{id}, 'plan_quota'), '0', 'and its keys plan_quota';
($st) = $redis->cli('update', $pk->{id}, '--no-plan');
is has_field($pk->{id}, 'plan_quota'), '0', '--no-plan removes plan_quota';

# credits: show, --set, --add, audited, never below 0
my $cid = $rid;   # 40 credits
($st, $out) = $redis->cli('credits', $cid);
is $st, 0, 'credits ID';
like $out, qr/: 40 credits of 40 granted/, 'prints them';
($st, $out) = $redis->cli('credits', $cid, '--json');
is_deeply json_of($out), {id => $cid, credits => 40, credits_granted => 40, refill => undef},
    'credits --json';
($st, $out, $err) = $redis->cli('credits', $cid, '--set', '100', '--reason', 'renewal', '--json');
is $st, 0, 'credits --set' or diag $err;
is field($cid, 'credits'), '100', 'credits set';
is field($cid, 'credits_granted'), '100', 'credits_granted set';
my $e = last_event($cid);
is $e->{action}, 'credits', 'an audit event: credits';
is $e->{reason}, 'renewal', 'with the reason';
($st, $out) = $redis->cli('credits', $cid, '--add', '-30', '--json');
is $st, 0, 'credits --add -30';
is json_of($out)->{credits}, 70, 'the result';
is field($cid, 'credits'), '70', 'in Redis';
is field($cid, 'credits_granted'), '70', 'credits_granted follows the add';
my $events = () = grep { $_->{action} eq 'credits' }
    @{ json_of(($redis->cli('audit', $cid, '--json'))[1]) };
is $events, 2, 'each change audited';
($st, undef, $err) = $redis->cli('credits', $cid, '--add', '-71');
is $st, 1, 'a result below 0: exit 1';
like $err, qr/the credits would be -1 \(they are 70; at least 0\); nothing changed/, 'and says so';
is field($cid, 'credits'), '70', 'nothing changed';
($st) = $redis->cli('credits', $cid, '--add', '-70');
is field($cid, 'credits'), '0', 'down to exactly 0';
($st, undef, $err) = $redis->cli('credits', $cid, '--set', '1', '--add', '1');
is $st, 2, '--set and --add: exit 2';
($st, undef, $err) = $redis->cli('credits', $cid, '--set', '-1');
is $st, 2, '--set -1: exit 2';
($st, undef, $err) = $redis->cli('credits', $cid, '--add', '1000000000001');
is $st, 2, '--add above 10^12: exit 2';
($st, undef, $err) = $redis->cli('credits', 'zzzzzzzzzzzz', '--add', '1');
is $st, 1, 'credits of an unknown key: exit 1';
like $err, qr/no key with ID zzzzzzzzzzzz/, 'and says so';

# --add on a key without credits: from 0
($st) = $redis->cli('credits', $plain->{id}, '--add', '25');
is $st, 0, '--add on a key without credits';
is field($plain->{id}, 'credits'), '25', 'starts from 0';
is field($plain->{id}, 'credits_granted'), '25', 'and so does credits_granted';
($st, undef, $err) = $redis->cli('credits', $pk->{id}, '--add', '-1');
is $st, 1, '--add -1 on a key without credits: refused';
is has_field($pk->{id}, 'credits'), '0', 'and nothing written';

# limits --reset deletes the quota counters, not the credits
my $qkey = "apikey:quota:{$cid}";
$redis->cmd('HSET', $qkey, 'default/day', '20260101:5');
$redis->cmd('SET', "apikey:bucket:{$cid}:default", 'x');
is $redis->cmd('EXISTS', $qkey), '1', 'a quota counter hash';
($st, $out, $err) = $redis->cli('limits', $cid, '--reset');
is $st, 0, 'limits --reset' or diag $err;
like $out, qr/calendar quotas count from 0/, 'says so';
is $redis->cmd('EXISTS', $qkey), '0', 'the quota hash is gone';
is $redis->cmd('EXISTS', "apikey:bucket:{$cid}:default"), '0', 'the bucket too';
is field($cid, 'credits'), '0', 'the credits are untouched';
is last_event($cid)->{action}, 'reset_limits', 'audited';
# delete: the quota hash goes with the key
$redis->cmd('HSET', $qkey, 'default/day', '20260101:5');
($st) = $redis->cli('delete', $cid);
is $redis->cmd('EXISTS', $qkey), '0', 'delete removes the quota hash too';

# help and man page name the new options
($st, $out) = $redis->cli('create', '--help');
like $out, qr/--quota N\/PERIOD/, 'create --help: --quota';
like $out, qr/--credits N/, 'create --help: --credits';
like $out, qr/--refill N\/day\|month/, 'create --help: --refill';
($st, $out) = $redis->cli('update', '--help');
like $out, qr/--no-quota/, 'update --help: --no-quota';
like $out, qr/--no-credits/, 'update --help: --no-credits';
like $out, qr/--no-refill/, 'update --help: --no-refill';
($st, $out) = $redis->cli('credits', '--help');
like $out, qr/apikeyctl credits ID \[--set N \| --add N\]/, 'credits --help';
($st, $out) = $redis->cli('--help');
like $out, qr/^\s+credits\s/m, '--help lists credits';
($st, $out) = $redis->cli('plan', '--help');
like $out, qr/--no-quota/, 'plan --help: --quota and --no-quota';

done_testing;
