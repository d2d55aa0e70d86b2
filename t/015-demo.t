# make run's demo (scripts/demo): started on free ports in a directory of its
# own, it must print curl lines that really answer what their comments say:
# 200, 401, 403, the key's own record, then 429 after the burst.
use strict;
use warnings;
use lib 't/lib';
use File::Temp qw(tempdir);
use Test::More;
use ApikeyTest;

my $root = root();
# the demo runs the plain build (build/), not a sanitizer or valgrind one
plan skip_all => 'the demo runs the plain build: make test covers it'
    if $ENV{APIKEY_MODULE} || $ENV{NGINX_WRAPPER};
plan skip_all => 'no plain build (make)' unless -x "$root/build/apikeyctl";
my $dir = tempdir(CLEANUP => 1);
local $ENV{DEMO_DIR} = $dir;
local $ENV{DEMO_PORT} = free_port();
local $ENV{DEMO_API_PORT} = free_port();
local $ENV{DEMO_REDIS_PORT} = free_port();

my $out = `$root/scripts/demo start 2>&1`;
is $?, 0, 'scripts/demo start' or diag $out;
END { system("$root/scripts/demo stop >/dev/null 2>&1") if $dir }

# "# 200: ..." then the command on the next line
my %try;
while ($out =~ /^\s*# (\d{3}|who am I)\b[^\n]*\n\s*(curl [^\n]+|for [^\n]+)$/mg) {
    $try{$1} = $2;
}
ok $try{$_}, "the demo prints a curl line for $_" for qw(200 401 403 429), 'who am I';

sub status_of {
    my ($cmd) = @_;
    my $res = `$cmd 2>/dev/null`;
    return $res =~ m{^HTTP/[\d.]+ (\d{3})} ? $1 : "no status in: $res";
}
is status_of($try{200}), 200, 'the 200 line: a valid read key';
is status_of($try{401}), 401, 'the 401 line: no key';
is status_of($try{403}), 403, 'the 403 line: POST without the write scope';
like `$try{'who am I'}`, qr/"name":"demo \(read only\)"/, "the introspection line: the key's own record";
open my $loop, '-|', 'bash', '-c', $try{429} or die "bash: $!";
# 200s until the burst is spent, then 429s; on a loaded machine the loop can
# last long enough for the bucket to earn one token back, so a late 200 is fine
like join('', <$loop>), qr/^(200 )+429 (429 |200 )*$/m, 'the 429 line: 200s, then refused after the burst';

like $out, qr{http://127\.0\.0\.1:$ENV{DEMO_PORT}/admin/}, 'and where the API Keys page is';
my ($admin_line) = $out =~ /^\s*# the same over the admin API\n\s*(curl [^\n]+)$/m;
ok $admin_line, 'the demo prints an admin key and a curl line for the admin API';
like `$admin_line 2>/dev/null`, qr/^\{"keys":\[/, 'the admin key lists the keys';
(my $keyless = $admin_line // '') =~ s/-H "X-API-Key: [^"]*"//;
is `$keyless -o /dev/null -w '%{http_code}' 2>/dev/null`, '401', 'without it the admin API answers 401';
is system("$root/scripts/demo stop >/dev/null 2>&1"), 0, 'scripts/demo stop';
ok !-f "$dir/nginx.pid", 'nginx is stopped';
done_testing;
