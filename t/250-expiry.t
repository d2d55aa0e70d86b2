# Expiry: warnings to the key holder (X-Api-Key-Expires), list --expiring and
# extend for the operator.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use ApikeyTest;

my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(redis => $redis,
    server => <<'EOF');
        location /short-notice/ {
            apikey on;
            apikey_expiry_warning 1d;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
EOF
my $soon = $redis->create_key(name => 'soon', expires_in => '10d');
my $later = $redis->create_key(name => 'later', expires_in => '90d');
my $never = $redis->create_key(name => 'never', expires_in => 'never');

my $res = $nginx->get('/api/x', 'X-API-Key' => $soon->{token});
my $h = ApikeyTest::Nginx::header($res, 'X-Api-Key-Expires');
like $h, qr/^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/, 'expires within 14d: X-Api-Key-Expires (HTTP-date)';
my ($d, $mon, $y) = $soon->{expires_at} =~ /^(\d+)-(\d+)-(\d+)/ ? ($3, $2, $1) : ();
like $h, qr/^\w{3}, $d \w{3} $y /, 'carrying the expiry date';
ok !defined ApikeyTest::Nginx::header($nginx->get('/api/x', 'X-API-Key' => $later->{token}), 'X-Api-Key-Expires'),
    '90 days away: no header';
ok !defined ApikeyTest::Nginx::header($nginx->get('/api/x', 'X-API-Key' => $never->{token}), 'X-Api-Key-Expires'),
    'never expires: no header';
ok !defined ApikeyTest::Nginx::header($nginx->get('/short-notice/x', 'X-API-Key' => $soon->{token}), 'X-Api-Key-Expires'),
    'apikey_expiry_warning 1d: not yet';

my ($st, $out) = $redis->cli('list', '--expiring', '14d', '--json');
is_deeply [map { $_->{name} } @{ json_of($out) }], ['soon'], 'list --expiring 14d';

($st, $out) = $redis->cli('extend', $soon->{id}, '--expires-in', '90d', '--json');
is $st, 0, 'extend --expires-in 90d';
ok !defined ApikeyTest::Nginx::header($nginx->get('/api/x', 'X-API-Key' => $soon->{token}), 'X-Api-Key-Expires'),
    'after extending: no warning';
($st, $out) = $redis->cli('list', '--expiring', '14d', '--json');
is_deeply json_of($out), [], 'and not expiring any more';
($st, undef, my $err) = $redis->cli('extend', $soon->{id});
is $st, 2, 'extend needs --expires-in';

$nginx->stop;
done_testing;
