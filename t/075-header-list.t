# The request's header list after apikey_strip_credentials stays a sound nginx
# list: a module that pushes input headers later (headers-more's
# more_set_input_headers after an internal redirect, as Lua's
# ngx.req.set_header would) adds to it, and nothing writes through a stale
# pointer. Uses Debian's libnginx-mod-http-headers-more-filter, which is built
# for Debian's own nginx: against another nginx (NGINX_BIN) this file skips.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use ApikeyTest;

my $more = '/usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so';
plan skip_all => "headers-more is built for Debian's nginx only (NGINX_BIN=$ENV{NGINX_BIN})"
    if ($ENV{NGINX_BIN} // '/usr/sbin/nginx') ne '/usr/sbin/nginx';
plan skip_all => "$more missing (scripts/install-deps installs libnginx-mod-http-headers-more-filter)"
    unless -f $more;

my $module = $ENV{APIKEY_MODULE} // root() . '/build/ngx_http_apikey_module.so';
my $redis = ApikeyTest::Redis->start;
my $nginx = ApikeyTest::Nginx->start(
    redis => $redis,
    load => "load_module $module; load_module $more;",
    # the key is checked and stripped here; try_files (after the access
    # phase) then sends the request to @inner, whose rewrite phase runs
    # headers-more: its pushes land in the list strip_credentials built
    location => 'apikey on; apikey_limit off; root /nonexistent; try_files $uri @inner;',
    server => <<'EOF',
        location @inner {
            apikey on; apikey_limit off;
            more_set_input_headers 'X-Key-Name: pushed after the strip'
                                   'X-Key-Id: and another';
            proxy_pass http://127.0.0.1:$upstream_port;
        }
EOF
);

my $key = $redis->create_key(name => 'pushed');
my $T = $key->{token};

for my $form (['X-API-Key' => $T], ['Authorization' => "Bearer $T"]) {
    my $bad;
    for my $round (1 .. 20) {
        # enough headers that the rebuilt list needs its second part too
        my $res = $nginx->get('/api/x', @$form, map { ("X-Filler-$_" => 'x' x 40) } 1 .. $round);
        next if $res->{status} == 200 && $res->{body} =~ /x-key-name=\[pushed after the strip\]/
                && $res->{body} =~ /x-key-id=\[and another\]/ && $res->{body} !~ /\Q$T\E/;
        $bad = "$round extra headers: " . ($res->{raw} // $res->{error} // '');
        last;
    }
    ok !$bad, "$form->[0]: headers pushed after the strip reach the upstream, the key does not"
        or diag $bad;
}

my @workers = $nginx->worker_pids;
is $nginx->get('/api/x', 'X-API-Key' => $T)->{status}, 200, 'still serving';
is_deeply [$nginx->worker_pids], \@workers, 'the worker never crashed';
$nginx->stop;

done_testing;
