# The README's SaaS example ("An example: a SaaS API with plans, roles, owners,
# live and test keys") is a configuration an operator can copy: this test takes
# that very block out of README.md, points its addresses at this test's own,
# and runs it against records with the model the README's apikeyctl commands
# describe (written as the data model documents them: role and plan copies in
# each record).
use strict;
use warnings;
use lib 't/lib';
use File::Temp qw(tempdir);
use Test::More;
use ApikeyTest;

my $root = root();
open my $readme, '<', "$root/README.md" or die "README.md: $!";
my $text = do { local $/; <$readme> };
my ($conf) = $text =~ /^### An example: a SaaS API with plans, roles, owners, live and test keys\n.*?^```nginx\n(.*?)^```/ms;
ok $conf, 'the README has the example';

my $redis = ApikeyTest::Redis->start;
my $dir = tempdir(CLEANUP => 1);
mkdir "$dir/logs";
my ($port, $upstream) = (free_port(), free_port());

my $module = $ENV{APIKEY_MODULE} // "$root/build/ngx_http_apikey_module.so";
my %swap = (
    'load_module modules/ngx_http_apikey_module.so;' => "load_module $module;",
    'apikey_redis 127.0.0.1:6379;'                    => 'apikey_redis 127.0.0.1:' . $redis->port . ';',
    'server 127.0.0.1:8000;'                          => "server 127.0.0.1:$upstream;",
);
for my $from (sort keys %swap) {
    ok $conf =~ s/\Q$from\E/$swap{$from}/, "the example has \"$from\"";
}
is(($conf =~ s/listen 80;/listen 127.0.0.1:$port;/g), 2, 'two servers on port 80');
$conf =~ s/\}\s*\z/    server {
        listen 127.0.0.1:$upstream;
        location \/ { return 200 "customer=\$http_x_customer plan=\$http_x_plan tenant=\$http_x_tenant\\n"; }
    }
}
/ or die 'no closing brace';
open my $out, '>', "$dir/nginx.conf" or die;
print $out "pid $dir/nginx.pid;\nerror_log $dir/logs/error.log debug;\n$conf";
close $out;

my $nginx = bless { dir => $dir, port => $port, opt => {} }, 'ApikeyTest::Nginx';
my $started = $nginx->_run(0);
is $started, '', 'nginx starts with the example' or BAIL_OUT($started);
sleep 1;   # the cache's subscription

sub call {
    my ($host, $method, $token) = @_;
    my @lines = split /\n/, `curl -s -X $method -o - -w '\\n%{http_code}' http://127.0.0.1:$port/v1/items -H 'Host: $host' -H 'X-API-Key: $token'`;
    my $status = pop @lines;
    my $body = join "\n", @lines;
    $body =~ s/\n+\z//;
    return ($status, $body);
}

# the model of the README's apikeyctl commands
my %plan = (free => '60r/m:10', pro => '600r/m:100', enterprise => '6000r/m:1000');
my %role = (reader => 'read', writer => 'read write');
sub key {
    my (%o) = @_;
    my $k = $redis->create_key(name => $o{name});
    $redis->cmd('HSET', "apikey:key:{$k->{id}}", owner => $o{owner}, role => $o{role},
                role_scopes => $role{$o{role}}, plan => $o{plan}, plan_limits => $plan{$o{plan}},
                ($o{env} ? (env => $o{env}) : ()), ($o{meta} ? (meta => $o{meta}) : ()));
    return $k;
}
my $backend = key(name => 'acme backend', owner => 'acct_42', role => 'writer', plan => 'pro',
                  meta => '{"tenant":"acme"}');
my $ci = key(name => 'acme CI', owner => 'acct_42', role => 'reader', plan => 'pro', env => 'test');

my ($st, $body) = call('api.example.com', 'GET', $backend->{token});
is $st, 200, 'a live writer reads the live API';
is $body, 'customer=acct_42 plan=pro tenant=acme', 'the API learns customer, plan and tenant';
is((call('api.example.com', 'POST', $backend->{token}))[0], 200, 'and writes');
($st, $body) = call('sandbox.api.example.com', 'GET', $backend->{token});
is $st, 403, 'a live key on the sandbox is refused';
like $body, qr/"error":"wrong_environment"/, 'wrong_environment';
is((call('sandbox.api.example.com', 'GET', $ci->{token}))[0], 200, 'a test key reads the sandbox');
is((call('api.example.com', 'GET', $ci->{token}))[0], 403, 'but not the live API');
($st, $body) = call('sandbox.api.example.com', 'POST', $ci->{token});
is $st, 403, 'a reader may not write';
like $body, qr/"error":"insufficient_scope"/, 'insufficient_scope';

# the pro plan's burst of 100 (the nginx.conf default would allow 10)
my $ok = grep { (call('api.example.com', 'GET', $backend->{token}))[0] == 200 } 1 .. 20;
is $ok, 20, "the pro plan's limits, not the default set's";
ok $redis->cmd('EXISTS', 'apikey:owner_bucket:acct_42:daily'), "acct_42's daily budget is shared";

$nginx->stop;
$nginx->check_logs;
done_testing;
