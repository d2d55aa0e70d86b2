# Names and reasons are text from people: apikeyctl's tables escape every
# control and bidi character (a reason cannot forge audit rows in a terminal),
# --json stays exact, and apikeyctl and the admin API refuse C1 controls, bidi
# controls and invalid UTF-8 (one core rule, src/core/text.cpp).
use strict;
use warnings;
use lib 't/lib';
use Encode qw(decode_utf8);
use JSON::PP;
use Test::More;
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;

my $ESC = "\x1b";
my $RLO = "\xe2\x80\xae";   # U+202E RIGHT-TO-LEFT OVERRIDE, UTF-8
my $NEL = "\xc2\x85";       # U+0085 NEXT LINE (C1), UTF-8

# a reason that, printed raw, clears the line and forges a second audit row
my $forged = "ok${ESC}[2K\r\n2026-01-01T00:00:00Z  just now        aaaaaaaaaaaa  delete   root          ${ESC}[31mred";

my $k = $redis->create_key(name => 'hygiene');
my $id = $k->{id};
my ($st, $out, $err) = $redis->cli('update', $id, '--name', 'hygiene two', '--reason', $forged);
is $st, 0, 'a reason may hold C0 controls (CR/LF, ESC): they are escaped when shown';

# a name with control characters, as an older version or a hand-made record holds it
$redis->cmd('HSET', "apikey:key:{$id}", 'name', "evil${ESC}[31m\r\nname${RLO}txt.exe\x7f");

sub no_raw_controls {
    my ($text, $what) = @_;
    my @bad = $text =~ /([\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xd8\x9c|\xe2\x80[\x8e\x8f\xaa-\xae]|\xe2\x81[\xa6-\xa9])/g;
    ok !@bad, "$what: no raw control or bidi character"
        or diag(join ' ', map { sprintf '%vX', $_ } @bad);
}

# audit: one line per event, the reason escaped
($st, $out) = $redis->cli('audit', $id);
is $st, 0, 'audit exits 0';
no_raw_controls($out, 'audit');
my @lines = split /\n/, $out;
is scalar(@lines), 3, 'audit: a header and one line per event (create, update), no forged row';
like $out, qr/\Qok\e[2K\r\n2026-01-01T00:00:00Z\E.*\Q\e[31mred\E$/m,
    'audit: the reason is shown with \\e, \\r, \\n escapes';

# audit --json: exact
($st, $out) = $redis->cli('audit', $id, '--json');
my $events = json_of($out);
is $events->[0]{reason}, $forged, 'audit --json: the reason exactly as given';

# show: escaped
($st, $out) = $redis->cli('show', $id);
is $st, 0, 'show exits 0';
no_raw_controls($out, 'show');
my $shown = quotemeta 'evil\e[31m\r\nname\u{202e}txt.exe\x7f';
like $out, qr/^Name\s+$shown$/m, 'show: the name escaped';
($st, $out) = $redis->cli('show', $id, '--json');
is json_of($out)->{name}, decode_utf8("evil${ESC}[31m\r\nname${RLO}txt.exe\x7f"), 'show --json: the name exactly';

# list: escaped, one row per key
($st, $out) = $redis->cli('list');
is $st, 0, 'list exits 0';
no_raw_controls($out, 'list');
@lines = split /\n/, $out;
is scalar(@lines), 2, 'list: a header and one row';
like $out, qr/\Q\e[31m\r\nname\E\\u\{202e\}/, 'list: the name escaped';
($st, $out) = $redis->cli('list', '--json');
is json_of($out)->[0]{name}, decode_utf8("evil${ESC}[31m\r\nname${RLO}txt.exe\x7f"), 'list --json: exact';

# revoke and delete name the key in their message: escaped too
($st, $out) = $redis->cli('revoke', $id);
no_raw_controls($out, 'revoke');
like $out, qr/\($shown\)/, 'revoke: the name escaped';

# --- refused on the way in ----------------------------------------------------

my $before = $redis->cmd('XLEN', 'apikey:audit');
for my $case (
    ['a bidi override in --name', ['create', '--name', "invoice${RLO}fdp.exe"],
     qr/invalid --name: .*bidirectional control character \(U\+202E\)/],
    ['U+2066 in --name', ['create', '--name', "a\xe2\x81\xa6b"],
     qr/invalid --name: .*bidirectional control character \(U\+2066\)/],
    ['a C1 control in --name', ['create', '--name', "a${NEL}b"],
     qr/invalid --name: .*C1 control character \(U\+0085\)/],
    ['invalid UTF-8 in --name', ['create', '--name', "caf\xe9"],
     qr/invalid --name: .*invalid UTF-8/],
    ['ESC in --name', ['create', '--name', "a${ESC}[31m"],
     qr/invalid --name: .*control character \(U\+001B\)/],
    ['a bidi override in --reason', ['create', '--name', 'ok', '--reason', "x${RLO}y"],
     qr/invalid --reason: a bidirectional control character \(U\+202E\)/],
    ['a C1 control in --reason', ['revoke', 'abcdefghijkl', '--reason', "\xc2\x9b31m"],
     qr/invalid --reason: a C1 control character \(U\+009B\)/],
    ['invalid UTF-8 in --reason', ['delete', 'abcdefghijkl', '--reason', "\xff\xfe"],
     qr/invalid --reason: invalid UTF-8/],
    ['a bidi mark in update --name', ['update', 'abcdefghijkl', '--name', "a\xe2\x80\x8f"],
     qr/invalid --name: .*U\+200F/],
    ['U+061C in import --name', ['import', '--name', "\xd8\x9c", '--token-file', '/dev/null'],
     qr/invalid --name: .*U\+061C/],
) {
    my ($what, $args, $message) = @$case;
    ($st, $out, $err) = $redis->cli(@$args);
    is $st, 2, "$what: exit status 2";
    like $err, $message, "$what: says what is wrong";
    is $out, '', "$what: prints nothing else";
}
is $redis->cmd('XLEN', 'apikey:audit'), $before, 'nothing refused was written';
($st, $out) = $redis->cli('list', '--json');
is scalar(@{ json_of($out) }), 1, 'no key was created';

# a name with accents and emoji is fine, and shown as it is
($st, $out) = $redis->cli('create', '--name', "caf\xc3\xa9 \xf0\x9f\x94\x91", '--reason', "line 1\nline 2");
is $st, 0, 'UTF-8 names are accepted';
like $out, qr/\(caf\xc3\xa9 \xf0\x9f\x94\x91\)/, 'and shown unescaped';

# --- the admin API: the same rule --------------------------------------------

# apikey_admin may need auth=off (an admin API that requires an admin key);
# use it where the module knows it
my ($auth_off) = ApikeyTest::Nginx->test_conf(
    redis => $redis, server => 'location /admin/ { apikey_admin auth=off; }');
my $admin = $auth_off ? 'apikey_admin auth=off;' : 'apikey_admin;';
my $nginx = ApikeyTest::Nginx->start(redis => $redis, server => <<"EOF");
        location /admin/ {
            allow 127.0.0.1;
            deny all;
            $admin
        }
EOF

my $J = JSON::PP->new->utf8->canonical;
sub post {
    my ($path, $body) = @_;
    my $res = $nginx->request('POST', $path, ':body' => $body,
                              'Content-Type' => 'application/json');
    $res->{json} = json_of($res->{body}) if length($res->{body} // '');
    return $res;
}

my $res = post('/admin/keys', $J->encode({ name => 'plain api key' }));
SKIP: {
    skip "the admin API did not answer POST keys ($res->{status})", 9 if $res->{status} != 201;
    is $res->{status}, 201, 'POST keys: a plain name is created';
    my $api_id = $res->{json}{id};

    # JSON with the raw UTF-8 of U+202E, and with its \u escape
    $res = post('/admin/keys', qq({"name":"invoice${RLO}fdp.exe"}));
    is $res->{status}, 400, 'POST keys: a name with U+202E gets 400';
    like $res->{json}{message}, qr/U\+202E/, 'which says which character';
    $res = post('/admin/keys', '{"name":"a\u202eb"}');
    is $res->{status}, 400, 'POST keys: a name with \u202e gets 400';
    $res = post('/admin/keys', '{"name":"a\u0085b"}');
    is $res->{status}, 400, 'POST keys: a name with a C1 control gets 400';
    $res = post('/admin/keys', '{"name":"ok","reason":"x\u2066y"}');
    is $res->{status}, 400, 'POST keys: a reason with U+2066 gets 400';
    like $res->{json}{message}, qr/reason/, 'which names the reason';
    $res = post("/admin/keys/$api_id/revoke", '{"reason":"\u009b31m"}');
    is $res->{status}, 400, 'POST revoke: a reason with a C1 control gets 400';
    ($st, $out) = $redis->cli('show', $api_id, '--json');
    is json_of($out)->{status}, 'active', 'and the key was not revoked';
}
$nginx->check_logs;

done_testing;
