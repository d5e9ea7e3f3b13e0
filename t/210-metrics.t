# Monitoring: omni_metrics_zone counts what two workers handle into one
# shared zone, omni_metrics serves it as Prometheus text (checked by
# Debian's promtool), a known mix of requests moves every counter by
# exactly its share, a reload keeps the counts, omni_health answers load
# balancers, the shipped alert rules pass promtool, and nginx -t names
# every bad directive.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint);

my $t = Omni::Test->new;
my $repo = Omni::Test::repo_root();
my $k = keygen($t->prefix . '/keys');
my $store = $t->prefix . '/store';

mkdir $store or die "$store: $!";
chmod 0777, $store;

my $promtool = '/usr/bin/promtool';
ok(-x $promtool, "promtool is installed (Debian's prometheus package)")
    or BAIL_OUT('make deps installs prometheus for promtool');

$t->write_file('policy.json', <<'END');
{"version": 1,
 "roles": {"customer": {"rules": [{"id": "cust-orders", "effect": "allow",
                                   "actions": ["order.*"]}]}}}
END

my $http = <<"END";
omni_plugins $repo/plugins;
omni_lua_library $repo/lua;
omni_jwt_secret $k->{hs32};
omni_store $store sync=none;
omni_journey_limits flush=20ms;
omni_policy_file %%PREFIX%%/policy.json;
omni_metrics_zone 1m;

server {
    listen 127.0.0.1:%%PORT1%%;
    access_log off;

    location / {
        default_type application/json;
        return 200 '{"ok":true,"data":{"order":"O-1"}}';
    }
}

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;

    proxy_method POST;
    proxy_set_header Content-Type application/json;
    proxy_set_header Authorization "";
    proxy_set_body \$omni_contract;

    location /web/ {
        omni_channel web;
        omni_customers create;
        omni_session on;
        omni_journey on;
        omni_policy on;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location = /metrics {
        omni_metrics;
    }

    location = /health {
        omni_health;
    }
}
END

$t->start($http, workers => 2);

my $token = mint(alg => 'HS256', key => $k->{hs32}, sub => 'sub-metrics',
                 roles => 'customer');
my @auth = (headers => [ [ Authorization => "Bearer $token" ] ]);

# name{labels} => value, from one scrape
sub scrape {
    my $r = $t->request(path => '/metrics');
    is($r->{status}, 200, 'the metrics are served') or diag($r->{body});
    my %m;
    for (split /\n/, $r->{body}) {
        next if /^#/ || !/\S/;
        my ($series, $value) = /^(\S+) (\S+)$/ or die "bad line: $_";
        $m{$series} = $value;
    }
    return (\%m, $r);
}

sub delta {
    my ($before, $after, $series) = @_;
    return ($after->{$series} // 0) - ($before->{$series} // 0);
}

my ($before) = scrape();

# the mix: 3 allowed, 2 without a token, 1 the policy denies
for (1 .. 3) {
    my $r = $t->request(path => '/web/orders/O-1', @auth);
    is($r->{status}, 200, 'an order query passes');
}
for (1 .. 2) {
    my $r = $t->request(path => '/web/orders/O-1');
    is($r->{status}, 401, 'a request without a token is refused');
}
my $denied = $t->request(path => '/web/profile', @auth);
is($denied->{status}, 403, 'the policy denies the profile');

# journeys are written every 20 ms: wait for the batch's commit
my ($after, $r);
for (1 .. 100) {
    ($after, $r) = scrape();
    last if ($after->{'omni_store_write_duration_seconds_count{what="journey"}'}
             // 0) > 0;
    select(undef, undef, undef, 0.05);
}

my %want = (
    'omni_requests_total{channel="web",outcome="ok",class="2xx"}' => 3,
    'omni_requests_total{channel="web",outcome="token_missing",class="4xx"}' => 2,
    'omni_requests_total{channel="web",outcome="permission_denied",class="4xx"}' => 1,
    'omni_jwt_total{result="verified"}' => 4,
    'omni_jwt_total{result="token_missing"}' => 2,
    'omni_policy_decisions_total{decision="allow",rule="cust-orders"}' => 3,
    'omni_policy_decisions_total{decision="deny",rule="default"}' => 1,
    'omni_request_duration_seconds_count{channel="web"}' => 6,
    'omni_gateway_duration_seconds_count{channel="web"}' => 6,
    'omni_upstream_duration_seconds_count{channel="web"}' => 3,
    'omni_request_duration_seconds_bucket{channel="web",le="+Inf"}' => 6,
);
for my $series (sort keys %want) {
    is(delta($before, $after, $series), $want{$series}, "$series moved by $want{$series}")
        or diag(join "\n", grep { /^omni_(requests|jwt|policy)/ } sort keys %$after);
}

is(delta($before, $after, 'omni_token_cache_total{result="hit"}')
   + delta($before, $after, 'omni_token_cache_total{result="miss"}'), 4,
   'every verified token was a cache hit or a miss (per worker caches)');

# buckets are cumulative and end at the count
my @buckets = map { $after->{$_} }
              sort { ($a =~ /le="([^"]+)"/)[0] eq '+Inf' ? 1
                     : ($b =~ /le="([^"]+)"/)[0] eq '+Inf' ? -1
                     : ($a =~ /le="([^"]+)"/)[0] <=> ($b =~ /le="([^"]+)"/)[0] }
              grep { /^omni_request_duration_seconds_bucket\{channel="web"/ }
              keys %$after;
is(scalar @buckets, 17, 'sixteen buckets and +Inf by default');
ok(!grep({ $buckets[$_] < $buckets[$_ - 1] } 1 .. $#buckets),
   '...cumulative');

ok($after->{'omni_store_map_bytes{of="used"}'} > 0, 'the store map is reported');
is($after->{'omni_store_map_bytes{of="max"}'}, 1024 ** 3, '...with its maximum');
ok($after->{'omni_store_records{family="customers"}'} >= 1, 'the store records are counted');
ok($after->{'omni_worker_start_time_seconds{worker="0"}'}
   && $after->{'omni_worker_start_time_seconds{worker="1"}'},
   'both workers say when they started');
is($after->{omni_metrics_dropped_total}, 0, 'no series was dropped');

# never a customer's identity or a token in a label
unlike($r->{body}, qr/sub-metrics|\Q$token\E|[0-9a-f]{32}/,
       'no subject, token or customer id in the metrics');

# promtool reads the exposition as Prometheus would
$t->write_file('scrape.txt', $r->{body});
my $check = `$promtool check metrics < ${\ $t->prefix}/scrape.txt 2>&1`;
is($?, 0, 'promtool check metrics passes') or diag($check);
like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4},
     'served as the text exposition format');

# --- a reload keeps the counts ---

$t->reload($http, workers => 2);
my ($reloaded) = scrape();
is($reloaded->{'omni_requests_total{channel="web",outcome="ok",class="2xx"}'},
   $after->{'omni_requests_total{channel="web",outcome="ok",class="2xx"}'},
   'a reload keeps the counters');
$r = $t->request(path => '/web/orders/O-1', @auth);
my ($more) = scrape();
is(delta($reloaded, $more,
         'omni_requests_total{channel="web",outcome="ok",class="2xx"}'), 1,
   '...and the new workers count on from there');

# --- health ---

$r = $t->request(path => '/health');
is($r->{status}, 200, 'the health check passes');
like($r->{body}, qr/^\{"status":"ok","worker":\d,"pid":\d+,"store":"ok","policy":"ok","plugins":"ok"\}\n\z/,
     '...and says what it checked');
is($t->request(path => '/health', method => 'POST')->{status}, 405,
   'the health check takes GET and HEAD only');

# --- the shipped alert rules ---

$check = `$promtool check rules $repo/conf/omni-alerts.yml 2>&1`;
is($?, 0, 'promtool check rules passes on conf/omni-alerts.yml') or diag($check);
like($check, qr/SUCCESS: \d+ rules found/, '...and finds the rules');

# --- configuration errors ---

for my $case (
    [ "server { listen 127.0.0.1:%%PORT%%; location /m { omni_metrics; } }",
      qr/"omni_metrics" directive needs "omni_metrics_zone" at the http level/ ],
    [ "omni_metrics_zone 10k;", qr/invalid zone size "10k": it must hold 64 series/ ],
    [ "omni_metrics_zone 1m buckets=0.1,0.05;", qr/"buckets=0.1,0.05": histogram buckets must grow/ ],
    [ "omni_metrics_zone 1m buckets=0.1,x;", qr/invalid buckets in "buckets=0.1,x"/ ],
    [ "omni_metrics_zone 1m keep=1;", qr/invalid parameter "keep=1"/ ],
    [ "omni_metrics_zone 1m;\nomni_metrics_zone 2m;", qr/"omni_metrics_zone" directive is duplicate/ ],
) {
    my ($ok, $out) = $t->test_config($case->[0]);
    ok(!$ok, "nginx -t fails: $case->[0]");
    like($out, $case->[1], '...naming the problem');
}

$t->check_error_log;

done_testing();
