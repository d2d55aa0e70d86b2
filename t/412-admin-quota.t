# apikey_admin and calendar quotas and credits: quota, credits and refill in
# the bodies of POST keys and PATCH keys/{id} (null removes), POST
# keys/{id}/credits with {"set":N} or {"add":N} (audited, never below 0), a
# plan's quota copied into its keys, the key JSON, the 4xx of bad input, and
# the cross-site guards on the new POST.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::Local qw(timegm);
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    location => 'apikey on;',
    server => <<'EOF',
        location /admin/ {
            apikey_superscope root;
            apikey_limit 60000r/m burst=1000;
            apikey_admin;
        }
EOF
);
my $J = JSON::PP->new->utf8->canonical;
my $ROOT = $redis->create_key(name => 'root', scopes => ['root']);

sub call {
    my ($method, $path, $body, @headers) = @_;
    my $res = $nginx->request($method, "/admin/$path", 'X-API-Key' => $ROOT->{token},
        defined $body ? (':body' => ref $body ? $J->encode($body) : $body) : (),
        'Content-Type' => 'application/json', @headers);
    $res->{json} = json_of($res->{body}) if length($res->{body} // '');
    return $res;
}
sub field { $redis->cmd('HGET', "apikey:key:{$_[0]}", $_[1]) }
sub has_field { $redis->cmd('HEXISTS', "apikey:key:{$_[0]}", $_[1]) }

my $now = time;
my @t = gmtime $now;
my $month_start = timegm(0, 0, 0, 1, $t[4], $t[5] + 1900);

# create with quota, credits and refill
my $res = call('POST', 'keys', {name => 'metered', quota => '1000000/month 500/day',
                                credits => 250, refill => '1000/month'});
is $res->{status}, 201, 'POST keys with quota, credits, refill: 201' or diag $res->{body};
my $key = $res->{json};
my $id = $key->{id};
is $key->{quota}, '1000000/month 500/day', 'quota in the JSON';
is $key->{credits}, 250, 'credits';
is $key->{credits_granted}, 250, 'credits_granted';
is $key->{refill}, '1000/month', 'refill';
is field($id, 'quota'), '1000000/month 500/day', 'Redis: quota';
is field($id, 'credits'), '250', 'Redis: credits';
is field($id, 'credits_granted'), '250', 'Redis: credits_granted';
is field($id, 'refill'), '1000/month', 'Redis: refill';
is field($id, 'refilled'), $month_start, 'Redis: refilled, the start of this UTC month';
my %without_token = %$key;
delete $without_token{token};
is_deeply call('GET', "keys/$id")->{json}, \%without_token, 'GET keys/{id}: the same fields';
my ($st, $shown) = $redis->cli('show', $id, '--json');
is_deeply json_of($shown), call('GET', "keys/$id")->{json}, 'apikeyctl show --json prints the same';
my $list = call('GET', 'keys?search=metered')->{json};
is $list->{keys}[0]{credits}, 250, 'the list has them too';

# a plain key has none of them
$res = call('POST', 'keys', {name => 'plain'});
my $plain = $res->{json};
ok !exists $plain->{$_}, "a plain key: no $_" for qw(quota plan_quota credits credits_granted refill);

# update: replace, remove
$res = call('PATCH', "keys/$id", {quota => '10/week', credits => 7, refill => '5/day'});
is $res->{status}, 200, 'PATCH quota, credits, refill: 200' or diag $res->{body};
is field($id, 'quota'), '10/week', 'quota replaced';
is field($id, 'credits') . '/' . field($id, 'credits_granted'), '7/7', 'credits granted';
is field($id, 'refill'), '5/day', 'refill replaced';
$res = call('PATCH', "keys/$id", {refill => undef});
is $res->{status}, 200, 'PATCH refill null: 200';
is has_field($id, 'refill') . has_field($id, 'refilled'), '00', 'refill and refilled removed';
is field($id, 'credits'), '7', 'the credits stay';
$res = call('PATCH', "keys/$id", {quota => undef, credits => undef});
is $res->{status}, 200, 'PATCH quota null, credits null: 200';
is has_field($id, $_), '0', "$_ removed" for qw(quota credits credits_granted refill refilled);
ok !exists $res->{json}{credits}, 'no credits in the JSON: unlimited';

# 400 on bad input, nothing written
my $before = join '|', $redis->cmd('HGETALL', "apikey:key:{$id}");
for my $bad ({quota => '5/year'}, {quota => '1/day 2/day'}, {quota => ['1/day']},
             {credits => -1}, {credits => 1.5}, {credits => '5'}, {credits => 1000000000001},
             {refill => '5/week'}, {refill => 'often'}, {credits => undef, refill => '1/day'}) {
    my $r = call('PATCH', "keys/$id", $bad);
    is $r->{status}, 400, 'PATCH ' . $J->encode($bad) . ': 400';
    is $r->{json}{error}, 'invalid_request', 'invalid_request';
}
is call('POST', 'keys', {name => 'x', quota => ''})->{status}, 400, 'POST keys with quota "": 400';
is join('|', $redis->cmd('HGETALL', "apikey:key:{$id}")), $before, 'nothing changed';

# POST keys/{id}/credits
$res = call('POST', "keys/$id/credits", {set => 100, reason => 'renewal'});
is $res->{status}, 200, 'credits set: 200' or diag $res->{body};
is $res->{json}{credits}, 100, 'the key, with its credits';
is field($id, 'credits') . '/' . field($id, 'credits_granted'), '100/100', 'Redis: set';
my $events = call('GET', "keys/$id/audit?limit=1")->{json}{events};
is $events->[0]{action}, 'credits', 'audited: credits';
is $events->[0]{reason}, 'renewal', 'with the reason';
is $events->[0]{via}, 'admin-api', 'via the admin API';
$res = call('POST', "keys/$id/credits", {add => -30});
is $res->{status}, 200, 'credits add -30: 200';
is $res->{json}{credits}, 70, '70 left';
is $res->{json}{credits_granted}, 70, 'credits_granted follows';
$res = call('POST', "keys/$id/credits", {add => -71});
is $res->{status}, 409, 'a result below 0: 409';
is $res->{json}{error}, 'conflict', 'conflict';
like $res->{json}{message}, qr/the credits would be -1/, 'says what it would be';
is field($id, 'credits'), '70', 'nothing changed';
$res = call('POST', "keys/$plain->{id}/credits", {add => 5});
is $res->{status}, 200, 'add on a key without credits: 200';
is $res->{json}{credits}, 5, 'from 0';
for my $bad ('{}', '{"set":1,"add":1}', '{"set":-1}', '{"add":0.5}', '{"set":"1"}',
             '{"to":1}', '', '{"add":1,"name":"x"}') {
    my $r = call('POST', "keys/$id/credits", $bad);
    is $r->{status}, 400, "credits body '$bad': 400";
}
is call('POST', 'keys/zzzzzzzzzzzz/credits', {set => 1})->{status}, 404, 'unknown key: 404';
is call('GET', "keys/$id/credits")->{status}, 405, 'GET keys/{id}/credits: 405';
is field($id, 'credits'), '70', 'still 70';

# the cross-site guards apply to the new POST as to every change
for my $h (['Origin' => 'http://evil.example'], ['Sec-Fetch-Site' => 'cross-site']) {
    my $r = call('POST', "keys/$id/credits", {set => 999999}, @$h);
    is $r->{status}, 403, "credits from another site (@$h): 403";
}
{
    my $r = $nginx->request('POST', "/admin/keys/$id/credits", 'X-API-Key' => $ROOT->{token},
                            'Content-Type' => 'text/plain', ':body' => '{"set":999999}');
    is $r->{status}, 415, 'credits as text/plain (a form could send it): 415';
}
is field($id, 'credits'), '70', 'and nothing changed';

# plans: quota, copied into plan_quota and re-copied
$res = call('POST', 'plans', {name => 'metered', limits => ['600r/m'], quota => '1000/day'});
is $res->{status}, 201, 'POST plans with quota: 201' or diag $res->{body};
is $res->{json}{quota}, '1000/day', 'the plan JSON has quota';
is call('POST', 'plans', {name => 'onlyquota', quota => '5/month'})->{status}, 201,
    'a plan with only a quota';
is call('POST', 'plans', {name => 'neither'})->{status}, 400, 'a plan with neither: 400';
is call('POST', 'plans', {name => 'bad', quota => '5/year'})->{status}, 400, 'a bad plan quota: 400';
is call('POST', 'roles', {name => 'r', scopes => ['a'], quota => '5/day'})->{status}, 400,
    'a role takes no quota: 400';
$res = call('POST', 'keys', {name => 'on plan', plan => 'metered'});
my $pk = $res->{json};
is $pk->{plan_quota}, '1000/day', 'a key of the plan: plan_quota';
is field($pk->{id}, 'plan_quota'), '1000/day', 'in Redis';
$res = call('PATCH', 'plans/metered', {quota => '2000/day 9/week'});
is $res->{status}, 200, 'PATCH plans quota: 200';
is field($pk->{id}, 'plan_quota'), '2000/day 9/week', 'the key re-copied';
is call('GET', "keys/$pk->{id}")->{json}{plan_quota}, '2000/day 9/week', 'GET shows it';
$res = call('PATCH', 'plans/metered', {quota => undef});
is $res->{status}, 200, 'PATCH plans quota null: 200';
ok !exists $res->{json}{quota}, 'the plan has no quota';
is has_field($pk->{id}, 'plan_quota'), '0', 'nor its key';
call('PATCH', "keys/$pk->{id}", {plan => 'onlyquota'});
is field($pk->{id}, 'plan_quota'), '5/month', 'moving to another plan: its quota';
call('PATCH', "keys/$pk->{id}", {plan => undef});
is has_field($pk->{id}, 'plan_quota'), '0', 'leaving the plan removes plan_quota';

# limits/reset deletes the quota counters
$redis->cmd('HSET', "apikey:quota:{$id}", 'default/day', '20260101:5');
$res = call('POST', "keys/$id/limits/reset", {});
is $res->{status}, 200, 'limits/reset: 200';
is $redis->cmd('EXISTS', "apikey:quota:{$id}"), '0', 'the quota hash is gone';
is field($id, 'credits'), '70', 'the credits are untouched';

$nginx->stop;
done_testing;
