# Rate limits by who the caller is (docs/dispatch.md): token buckets per
# customer, subject or channel identity, with rates per tier and channel
# from the workflow file, shared by two workers through
# omni_dispatch_zone; over the limit a 429 rate_limited with Retry-After,
# rendered natively by each channel; counted in the metrics; kept across
# a reload and a killed worker; nginx -t lists every error of a bad file.

use strict;
use warnings;

use lib 't/lib';
use JSON::PP qw(decode_json);
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint);
use Omni::Gateway qw(plugins_dir);

my $t = Omni::Test->new;
my $repo = Omni::Test::repo_root();
my $k = keygen($t->prefix . '/keys');

$t->write_file('workflow.json', <<'END');
{"version": 1,
 "rate_limits": [
   {"id": "vip", "tiers": ["vip"], "rate": 5, "per": "hour"},
   {"id": "staff", "tiers": ["staff"], "unlimited": true},
   {"id": "calls", "channels": ["ivr"], "rate": 1, "per": "hour"},
   {"id": "chat", "channels": ["web", "miniprogram"], "anonymous": false,
    "rate": 60, "per": "hour", "burst": 2},
   {"id": "default", "rate": 2, "per": "hour"}
 ]}
END

# omni_plugins takes one directory: the test plugin joins the shipped ones
# in a directory of links
my $plugins = plugins_dir($t, 't/plugins/identities/claims.lua');

my $http = <<"END";
omni_plugins $plugins;
omni_lua_library $repo/lua;
omni_jwt_secret $k->{hs32};
omni_dispatch_file %%PREFIX%%/workflow.json;
omni_dispatch_zone 256k;
omni_metrics_zone 1m;

server {
    listen 127.0.0.1:%%PORT1%%;
    access_log off;

    location / {
        default_type application/json;
        return 200 '{"ok":true,"data":{"say":"hello","text":"hello"}}';
    }
}

server {
    listen 127.0.0.1:%%PORT%% reuseport;
    server_name localhost;
    add_header X-Worker \$pid always;

    proxy_set_body \$omni_contract;
    omni_rate_limit on;

    location /claims/ {
        omni_channel claims;
        omni_auth off;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /open/ {
        omni_channel claims;
        omni_auth off;
        omni_rate_limit off;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /web/ {
        omni_channel web;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /miniprogram/ {
        omni_channel miniprogram;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /ivr/ {
        omni_channel ivr;
        omni_auth plugin;
        omni_plugin_set auth_token 9f2c4e1a7b3d5f6081a2c3d4e5f60718;
        omni_plugin_set base_url https://gw.example.com;
        omni_plugin_set language en-US;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location = /metrics {
        omni_rate_limit off;
        omni_metrics;
    }
}
END

$t->start($http, workers => 2);

sub claims {
    my ($query) = @_;
    return $t->request(path => "/claims/x?$query");
}

# statuses of n requests, each on its own connection
sub statuses {
    my ($n, $query) = @_;
    return join ',', map { claims($query)->{status} } 1 .. $n;
}

sub scrape { Omni::Gateway::scrape($t) }

my $before = scrape();

# --- per tier: vip 5 an hour, staff unlimited, the rest 2 ---

is(statuses(6, 'type=phone&value=%2B1555000101&tier=vip'),
   '200,200,200,200,200,429', 'a vip caller has 5 requests, then 429');

my $r = claims('type=phone&value=%2B1555000101&tier=vip');
is($r->{status}, 429, 'still limited');
is($r->{body}, "rate_limited\n", 'rendered by the channel\'s plugin');
is($r->{headers}{'retry-after'}, 720,
   'Retry-After: the next token of 5 an hour comes in 12 minutes');

is(statuses(10, 'type=phone&value=%2B1555000102&tier=staff'),
   join(',', ('200') x 10), 'staff is unlimited');

is(statuses(3, 'type=phone&value=%2B1555000103'), '200,200,429',
   'no tier: the default limit, 2 an hour');
is(statuses(3, 'type=phone&value=%2B1555000104&tier=bronze'), '200,200,429',
   'a tier no limit names: the default too');

is(statuses(2, 'type=phone&value=%2B1555000105'), '200,200',
   'another caller has a bucket of its own');
is(statuses(2, 'type=email&value=%2B1555000103'), '200,200',
   '...as has the same value under another identity type');
is(statuses(3, 'tier=vip'), '200,200,200',
   'a request with no customer, subject or identity is not limited');

is(join(',', map { $t->request(path => '/open/x?type=phone&value=%2B1555000103')->{status} } 1 .. 3),
   '200,200,200', 'omni_rate_limit off in a location');

# the vip tier is a tier of the caller's request: the same identity with
# another tier is another limit's bucket
is(claims('type=phone&value=%2B1555000101')->{status}, 200,
   'the same identity under another limit has that limit\'s tokens');

# --- two workers share the buckets ---

my (%pids, @st);
for (1 .. 24) {
    my $x = claims('type=phone&value=%2B1555000199');
    push @st, $x->{status};
    $pids{ $x->{headers}{'x-worker'} }++;
}
is(scalar(keys %pids), 2, 'the requests went to both workers')
    or diag(explain(\%pids));
is(scalar(grep { $_ == 200 } @st), 2, '...which let 2 through between them');
is(scalar(grep { $_ == 429 } @st), 22, '...and refused the other 22');

# --- natively per channel ---

my $sub_token = mint(alg => 'HS256', key => $k->{hs32}, sub => 'sub-rl-web',
                     roles => 'customer');
my @auth = (headers => [ [ Authorization => "Bearer $sub_token" ] ]);

is(join(',', map { $t->request(path => '/web/orders/O-1', @auth)->{status} } 1 .. 2),
   '200,200', 'web: a subject\'s burst of 2');
$r = $t->request(path => '/web/orders/O-1', @auth);
is($r->{status}, 429, 'web: then 429');
like($r->{body}, qr/^\{"error":\{"code":"rate_limited","message":"[^"]+"\},"request_id":"[0-9a-f]{32}"\}$/,
     '...in the web format');
is($r->{headers}{'retry-after'}, 60, '...retry in a minute (60 an hour)');

my $mp_token = mint(alg => 'HS256', key => $k->{hs32}, sub => 'sub-rl-mp',
                    roles => 'customer');
my @mp = (method => 'POST', path => '/miniprogram/order/query',
          headers => [ [ Authorization => "Bearer $mp_token" ],
                       [ 'Content-Type' => 'application/json' ] ],
          body => '{"data":{"order_id":"1"}}');
$t->request(@mp) for 1 .. 2;
$r = $t->request(@mp);
is($r->{status}, 200, 'mini-program: HTTP 200 as ever');
like($r->{body}, qr/"errcode":40029,"errmsg":"rate_limited: /,
     '...with errcode 40029');
is($r->{headers}{'retry-after'}, 60, '...and Retry-After');

# one "chat" limit for both channels, a bucket for each subject
is($t->request(path => '/web/orders/O-1', @auth)->{status}, 429,
   'web is still refused for its own subject');

my $fx = decode_json(Omni::Test::_slurp("$repo/t/fixtures/ivr/incoming_call.json"));
my $req = $fx->{request};
my %h = %{ $req->{headers} };
delete $h{host};
my @ivr = (method => 'POST', path => $req->{path}, host => 'gw.example.com',
           headers => [ map { [ $_, $h{$_} ] } sort keys %h ],
           body => $req->{body}, no_subst => 1);
$r = $t->request(@ivr);
is($r->{status}, 200, 'ivr: the first call passes');
like($r->{body}, qr/<Say[^>]*>hello<\/Say>/, '...answered with TwiML');
$r = $t->request(@ivr);
like($r->{body}, qr/^<\?xml[^>]*><Response><Say[^>]*>[^<]+<\/Say>/,
     'ivr: the second call of the hour is refused in TwiML');
is($r->{headers}{'retry-after'}, 3600, '...with Retry-After');

# --- counted ---

# a worker counts a request in its log phase, after the answer left: the
# other worker may serve the scrape first, so wait for the last request
my $after;
sub delta { ($after->{$_[0]} // 0) - ($before->{$_[0]} // 0) }
for (1 .. 40) {
    $after = scrape();
    last if delta('omni_rate_limited_total{channel="ivr",limit="calls"}') >= 1;
    select(undef, undef, undef, 0.05);
}
is(delta('omni_rate_limited_total{channel="claims",limit="vip"}'), 2,
   'the metrics count the vip refusals');
is(delta('omni_rate_limited_total{channel="claims",limit="default"}'), 24,
   '...the default limit\'s');
is(delta('omni_rate_limited_total{channel="ivr",limit="calls"}'), 1,
   '...and the calls\'');
is(delta('omni_requests_total{channel="claims",outcome="rate_limited",class="4xx"}'),
   26, '...as requests refused rate_limited');

# --- kept across a reload and a killed worker ---

$t->reload($http, workers => 2);
is(claims('type=phone&value=%2B1555000103')->{status}, 429,
   'a reload keeps the buckets');

my @workers = $t->worker_pids;
kill 'KILL', $workers[0];
my @now;
for (1 .. 200) {
    @now = $t->worker_pids;
    last if @now == 2 && !grep { $_ == $workers[0] } @now;
    select undef, undef, undef, 0.02;
}
ok(@now == 2 && !grep({ $_ == $workers[0] } @now), 'a killed worker is replaced');
is(statuses(4, 'type=phone&value=%2B1555000103'), '429,429,429,429',
   '...and every worker still sees the buckets');
is(statuses(3, 'type=phone&value=%2B1555000150'), '200,200,429',
   '...and counts new ones');

# --- configuration errors ---

$t->write_file('bad.json', <<'END');
{"version": 2, "extra": 1,
 "rate_limits": [
   {"id": "a b", "rate": 0, "per": "day"},
   {"id": "x", "channels": ["Web", "web", "web"], "tiers": [], "rate": 1,
    "per": "second", "burst": 2000000},
   {"id": "x", "unlimited": true, "rate": 3},
   {"id": "y", "anonymous": "yes", "rate": 1.5, "per": "second"}
 ]}
END

my ($ok, $out) = $t->test_config(<<'END');
omni_dispatch_file %%PREFIX%%/bad.json;
END
ok(!$ok, 'nginx -t refuses a bad workflow file');
for my $e (
    'version must be 1',
    'unknown key "extra"',
    'rate_limits[0].id "a b" must be 1 to 64 of A-Z a-z 0-9 _ . -',
    'rate_limits[0].rate must be an integer from 1 to 1000000, not 0',
    'rate_limits[0].per must be "second", "minute" or "hour"',
    'rate_limits[1].channels[0] "Web" is not a channel name',
    'rate_limits[1].channels[2] "web" is listed twice',
    'rate_limits[1].tiers must be a non-empty array of strings',
    'rate_limits[1].burst must be an integer from 1 to 1000000, not 2000000',
    'rate_limits[2]: an unlimited entry has no rate, per or burst',
    'rate_limits[2].id "x" is also rate_limits[1]\'s',
    'rate_limits[3].anonymous must be true or false',
    'rate_limits[3].rate must be an integer from 1 to 1000000',
) {
    like($out, qr/\Q$e\E/, "nginx -t lists: $e");
}

for my $case (
    [ "omni_dispatch_file %%PREFIX%%/none.json;", qr/open\(\) ".*none\.json" failed/ ],
    [ "omni_dispatch_zone 1k;", qr/invalid zone size "1k"/ ],
    [ "omni_dispatch_zone 1m;\nomni_dispatch_zone 1m;",
      qr/"omni_dispatch_zone" directive is duplicate/ ],
    [ "omni_plugins $plugins; omni_lua_library $repo/lua; omni_dispatch_zone 1m;\n"
      . "server { listen 127.0.0.1:%%PORT%%; location / { omni_channel claims; omni_auth off; omni_rate_limit on; } }",
      qr/"omni_rate_limit" needs "omni_dispatch_file" and "omni_dispatch_zone"/ ],
) {
    my ($ok, $out) = $t->test_config($case->[0]);
    ok(!$ok, "nginx -t fails: $case->[0]");
    like($out, $case->[1], '...naming the problem');
}

$t->check_error_log(allow => [ qr/exited on signal 9/ ]);

done_testing();
