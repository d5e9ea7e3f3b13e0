# Dispatch (docs/dispatch.md) through nginx with two workers: the
# workflow's rules send requests to pools by tier ($omni_pool as
# proxy_pass's upstream); a pool held at capacity by a request in flight
# (its upstream never answers) sends the next ones to the rule's next
# target, on either worker; with every target full, 503 no_capacity with
# Retry-After, rendered natively; affinity to the pool that last served a
# caller; in-flight counts drop when a request
# ends, and after a killed worker; the decision in $omni_dispatch, the
# metrics, an info line, the contract each pool receives (1.3: dispatch
# and intent, null without omni_dispatch) and the customer's journey; a
# customer with an open case sent by an open_case rule;
# omni_dispatch_explain explains a decision to an admin without sending
# anything; a pool's capacity per channel (an IVR call fills the voice
# slot while web chats get in, counted apart, a killed worker's call
# taken off both); nginx -t refuses pools without an upstream{} block.

use strict;
use warnings;

use lib 't/lib';
use IO::Socket::INET;
use JSON::PP qw(decode_json);
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint);
use Omni::Gateway qw(plugins_dir);

my $t = Omni::Test->new;
my $repo = Omni::Test::repo_root();
my $k = keygen($t->prefix . '/keys');

# the experts' upstream: a socket that takes connections and never answers
my $hold = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                 LocalPort => 0, Proto => 'tcp', ReuseAddr => 1)
    or die "listen: $!";
my $hold_port = $hold->sockport;

$t->write_file('workflow.json', <<'END');
{"version": 1, "bot_confidence_min": 0.7,
 "pools": {
   "vip_desk": {"capacity": 10},
   "experts": {"capacity": 1, "upstream": "experts_backend"},
   "agents": {"capacity": 10},
   "bot": {"kind": "bot", "capacity": 10}
 },
 "rules": [
   {"id": "vip", "tiers": ["vip"], "targets": ["vip_desk"]},
   {"id": "gold", "tiers": ["gold"], "targets": ["experts", "agents"]},
   {"id": "experts-only", "tiers": ["expert"], "targets": ["experts"]},
   {"id": "web-experts", "channels": ["web", "miniprogram"],
    "targets": ["experts"]},
   {"id": "anonymous", "anonymous": true, "tiers": ["guest"],
    "targets": ["bot"]},
   {"id": "simple", "intents": ["faq.*"], "targets": ["bot", "agents"]},
   {"id": "follow-up", "open_case": true, "targets": ["vip_desk"]}
 ],
 "default": {"targets": ["agents"]}}
END

my $plugins = plugins_dir($t, 't/plugins/identities/claims.lua',
                          't/plugins/misbehaving/badcontract.lua');

my $store = $t->prefix . '/store';
mkdir $store or die "$store: $!";
chmod 0777, $store;

my $http = <<"END";
omni_plugins $plugins;
omni_lua_library $repo/lua;
omni_jwt_secret $k->{hs32};
omni_dispatch_file %%PREFIX%%/workflow.json;
omni_dispatch_zone 256k;
omni_metrics_zone 1m;
omni_store $store sync=none;
omni_journey_limits flush=20ms;

upstream vip_desk { server 127.0.0.1:%%PORT1%%; }
upstream agents { server 127.0.0.1:%%PORT2%%; }
upstream bot { server 127.0.0.1:%%PORT3%%; }
upstream experts_backend { server 127.0.0.1:$hold_port; }

log_format received escape=none '\$server_port \$request_body';

# the pools: each logs the contract it receives, then answers
server {
    listen 127.0.0.1:%%PORT1%%;
    listen 127.0.0.1:%%PORT2%%;
    listen 127.0.0.1:%%PORT3%%;
    client_body_buffer_size 64k;

    location / {
        access_log %%PREFIX%%/received.log received;
        proxy_pass http://127.0.0.1:%%PORT4%%/reply;
    }
}

server {
    listen 127.0.0.1:%%PORT4%%;
    access_log off;

    location / {
        default_type application/json;
        return 200 '{"ok":true,"data":{"text":"\$server_port"}}';
    }
}

server {
    listen 127.0.0.1:%%PORT%% reuseport;
    server_name localhost;
    add_header X-Worker \$pid always;
    add_header X-Dispatch \$omni_dispatch always;
    add_header X-Pool \$omni_pool always;
    add_header X-Customer \$omni_customer always;

    proxy_set_body \$omni_contract;
    proxy_read_timeout 60s;
    omni_dispatch on;

    location /claims/ {
        omni_channel claims;
        omni_auth off;
        proxy_pass http://\$omni_pool;
    }

    location /web/ {
        omni_channel web;
        proxy_pass http://\$omni_pool;
    }

    location /miniprogram/ {
        omni_channel miniprogram;
        proxy_pass http://\$omni_pool;
    }

    location /customers/ {
        omni_channel claims;
        omni_auth off;
        omni_customers create;
        omni_journey on;
        proxy_pass http://\$omni_pool;
    }

    location /bad/ {
        omni_channel badcontract;
        omni_auth off;
        proxy_pass http://\$omni_pool;
    }

    location /undispatched/ {
        omni_channel claims;
        omni_auth off;
        omni_dispatch off;
        proxy_pass http://agents;
    }

    location = /metrics {
        omni_metrics;
    }

    location = /explain {
        omni_gateway on;
        omni_dispatch off;
        omni_dispatch_explain;
    }

    location = /pools {
        omni_gateway on;
        omni_dispatch off;
        omni_dispatch_pools role=ops;
    }
}
END

$t->start($http, workers => 2);

my %port = (vip_desk => $t->port(1), agents => $t->port(2), bot => $t->port(3));

sub claims { $t->request(path => "/claims/x?$_[0]") }

sub scrape { Omni::Gateway::scrape($t) }

sub in_flight { scrape()->{"omni_pool_in_flight{pool=\"$_[0]\"}"} // 0 }

# waits until the pool's gauge reads n
sub wait_in_flight {
    my ($pool, $n) = @_;
    for (1 .. 250) {
        return 1 if in_flight($pool) == $n;
        select undef, undef, undef, 0.02;
    }
    return 0;
}

# a request left in flight: sent, never read
sub hold {
    my ($path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port,
                                  Proto => 'tcp') or die "connect: $!";
    print $s "GET $path HTTP/1.1\r\nHost: localhost\r\n\r\n";
    return $s;
}

my $before = scrape();

# --- rules by tier ---

my $r = claims('type=phone&value=%2B1555000301&tier=vip');
is($r->{status}, 200, 'a vip request is served');
is($r->{headers}{'x-pool'}, 'vip_desk', '...by the vip pool ($omni_pool)');
is($r->{headers}{'x-dispatch'}, 'vip_desk vip 0 first',
   '...as $omni_dispatch says: pool, rule, step, reason');
is($r->{body}, "claims\n", '...rendered by the plugin');

$r = claims('type=phone&value=%2B1555000302');
is($r->{headers}{'x-dispatch'}, 'agents default 0 first',
   'a request no rule matches goes to the default');

$r = claims('tier=guest');
is($r->{headers}{'x-dispatch'}, 'bot anonymous 0 first',
   'an anonymous guest goes to the bot');

# --- intents a plugin reports ---

$r = claims('type=phone&value=%2B1555000310&intent=faq.hours&confidence=0.9');
is($r->{headers}{'x-dispatch'}, 'bot simple 0 first',
   'a confident simple intent goes to the bot');
$r = claims('type=phone&value=%2B1555000311&intent=faq.hours&confidence=0.5');
is($r->{headers}{'x-dispatch'}, 'agents simple 1 overflow',
   'an unsure one goes to people, not the bot');
$r = claims('type=phone&value=%2B1555000312&intent=faq.hours');
is($r->{headers}{'x-dispatch'}, 'bot simple 0 first',
   'an intent without a confidence counts as certain');
$r = claims('type=phone&value=%2B1555000313&intent=complaint&confidence=0.99');
is($r->{headers}{'x-dispatch'}, 'agents default 0 first',
   'an intent no rule names: the default');
for my $case ([ 'intent=Faq', qr/intent must be dotted lowercase words like 'faq.hours' \(got 'Faq'\)/ ],
              [ 'intent=faq&confidence=1.5', qr/confidence must be a number from 0 to 1 \(got number\)/ ],
              [ 'intent=faq&confidence=high', qr/confidence must be a number from 0 to 1 \(got 'high'\)/ ],
              [ 'confidence=0.5', qr/confidence needs an intent/ ]) {
    $t->mark_log;
    $r = claims("type=phone&value=%2B1555000314&$case->[0]");
    is($r->{status}, 500, "a plugin reporting $case->[0]: refused");
    my $log = '';
    for (1 .. 50) {
        $log = $t->log_since_mark;
        last if $log =~ $case->[1];
        select undef, undef, undef, 0.02;
    }
    like($log, $case->[1], '...the log says why');
}

# --- the decision and the intent in the contract the pool receives ---

# the contract the pools logged for the caller whose identity is value
sub received {
    my ($value) = @_;
    for (1 .. 100) {
        my ($line) = grep { index($_, "\"value\":\"$value\"") >= 0 }
                     split /\n/, $t->read_file('received.log') // '';
        return ($1, decode_json($2)) if $line && $line =~ /^(\d+) (\{.*\})$/;
        select undef, undef, undef, 0.02;
    }
    return;
}

claims('type=phone&value=%2B1555000320&intent=faq.hours&confidence=0.9');
my ($port, $c) = received('+1555000320');
is($port, $port{bot}, 'a contract reached the bot pool');
is_deeply($c->{dispatch}, { pool => 'bot', rule => 'simple', step => 0, reason => 'first' },
          '...with the decision: pool, rule, step, reason');
is_deeply($c->{intent}, { name => 'faq.hours', confidence => 0.9 },
          '...and the intent the plugin reported');
is($c->{version}, '1.3', '...in contract 1.3');

# the decision's info line: the workflow's names, never the caller
$t->mark_log;
claims('type=phone&value=%2B1555000321&intent=faq.hours&confidence=0.5');
my ($line) = grep { /dispatched to pool/ } split /\n/, $t->log_since_mark;
for (1 .. 50) {
    last if $line;
    select undef, undef, undef, 0.02;
    ($line) = grep { /dispatched to pool/ } split /\n/, $t->log_since_mark;
}
like($line // '', qr/\[info\].* omni: dispatched to pool "agents" by rule "simple", step 1, overflow, channel "claims", client: /,
     'the decision is logged at info: pool, rule, step, reason, channel');
my ($message) = ($line // '') =~ /(omni: dispatched.*?), client: /;
unlike($message // '', qr/1555000321/, '...without the caller\'s identity');

($port, $c) = received('+1555000321');
is_deeply([ $port, $c->{dispatch} ],
          [ $port{agents}, { pool => 'agents', rule => 'simple', step => 1, reason => 'overflow' } ],
          'an unsure intent: the agents, as the contract says');

claims('type=phone&value=%2B1555000322&intent=complaint');
($port, $c) = received('+1555000322');
is_deeply($c->{dispatch}, { pool => 'agents', rule => 'default', step => 0, reason => 'first' },
          'the default rule is named "default"');
is_deeply($c->{intent}, { name => 'complaint', confidence => undef },
          '...and an intent without a confidence has a null one');

claims('type=phone&value=%2B1555000323');
($port, $c) = received('+1555000323');
is($c->{dispatch}{pool}, 'agents', 'no intent: the decision still there');
ok(exists $c->{intent} && !defined $c->{intent}, '...and intent is null');

$r = $t->request(path => '/undispatched/x?type=phone&value=%2B1555000324&intent=faq.hours');
is($r->{status}, 200, 'a location without omni_dispatch serves');
($port, $c) = received('+1555000324');
ok(exists $c->{dispatch} && !defined $c->{dispatch}, '...and its contract\'s dispatch is null');
is($c->{intent}{name}, 'faq.hours', '...its intent still given');


# --- a customer with an open case: the follow-up rule, and the journey ---

sub ctl { Omni::Gateway::omnictl($store, @_) }

$r = $t->request(path => '/customers/x?type=phone&value=%2B1555000330&intent=order.status&confidence=0.8');
my $cid = $r->{headers}{'x-customer'};
ok($cid, 'a customer resolved');
is($r->{headers}{'x-dispatch'}, 'agents default 0 first', '...no open case: the default');

my ($rc, $out) = ctl('cases', 'open', $cid, 'complaint', 'The line is down');
is($rc, 0, 'omnictl opens a case for the customer') or diag($out);

$r = $t->request(path => '/customers/x?type=phone&value=%2B1555000330');
is($r->{headers}{'x-dispatch'}, 'vip_desk follow-up 0 first',
   'the customer with an open case: the follow-up rule\'s pool');
($port, $c) = (undef, undef);
for (1 .. 100) {
    my @mine = grep { index($_, '"value":"+1555000330"') >= 0 }
               split /\n/, $t->read_file('received.log');
    if (@mine == 2 && $mine[1] =~ /^(\d+) (\{.*\})$/) {
        ($port, $c) = ($1, decode_json($2));
        last;
    }
    select undef, undef, undef, 0.02;
}
is($port, $port{vip_desk}, '...which received it');
is(scalar @{ $c->{customer}{cases} // [] }, 1, '...with the open case in the contract');
is_deeply($c->{dispatch}, { pool => 'vip_desk', rule => 'follow-up', step => 0, reason => 'first' },
          '...and the decision');

# the journey records both decisions, the intent with the first (the
# case opened is an event of its own, not dispatched)
my $events = [];
for (1 .. 100) {
    ($rc, $out) = ctl('journey', $cid);
    my $j = eval { decode_json($out) } || {};
    $events = [ grep { $_->{action} eq 'identity.echo' } @{ $j->{events} || [] } ];
    last if @$events >= 2;
    select undef, undef, undef, 0.05;
}
is(scalar @$events, 2, 'omnictl journey: both requests');
is_deeply([ map { [ $_->{dispatch}, $_->{intent} ] } @$events ],
          [ [ { pool => 'vip_desk', rule => 'follow-up' }, undef ],
            [ { pool => 'agents', rule => 'default' }, 'order.status' ] ],
          '...each with its pool and rule, newest first, and the intent')
    or diag($out);

# params the writer refuses, found after the dispatch: refused all the
# same, and the place taken in the pool given back
$t->mark_log;
$r = $t->request(path => '/bad/x?kind=function');
is($r->{status}, 500, 'params no contract can hold: 500');
is($r->{body}, "badcontract: plugin_contract_invalid\n", '...plugin_contract_invalid');
is($r->{headers}{'x-dispatch'}, 'agents default 0 first', '...though it had been dispatched');
ok(wait_in_flight('agents', 0), '...and its place in the agents is given back');
like($t->log_since_mark, qr/plugin_contract_invalid \(params\.cb is a function\)/,
     '...the log says why');

my @received = map { /^\d+ (\{.*\})$/ ? $1 : () }
               split /\n/, $t->read_file('received.log');
mkdir $t->prefix . '/received';
$t->write_file("received/$_.json", $received[$_]) for 0 .. $#received;
my $valid = `$repo/tools/validate-json $repo/schema/contract.schema.json @{[ $t->prefix ]}/received/*.json 2>&1`;
is($? >> 8, 0, 'every contract the pools received validates against the schema')
    or diag($valid);

# --- capacity: the experts held by one request in flight ---

# the experts never answer: a gold request stays in flight there
my $held = hold('/claims/x?type=phone&value=%2B1555000304&tier=gold');
ok(wait_in_flight('experts', 1), 'a gold request holds the experts (capacity 1)');

my (%pids, @seen);
for my $i (1 .. 12) {
    my $x = claims("type=phone&value=%2B15550004$i&tier=gold");
    push @seen, $x->{headers}{'x-dispatch'};
    $pids{ $x->{headers}{'x-worker'} }++;
}
is(scalar(keys %pids), 2, 'the next requests went to both workers');
is(scalar(grep { $_ eq 'agents gold 1 overflow' } @seen), 12,
   '...and every one overflowed to the agents, the experts being full')
    or diag(explain(\@seen));

# the admin route explains a decision from the pools in flight now
my $admin = mint(alg => 'HS256', key => $k->{hs32}, sub => 'ops-1',
                 roles => 'admin');
my $customer = mint(alg => 'HS256', key => $k->{hs32}, sub => 'cust-1',
                    roles => 'customer');
sub ask_explain {
    my ($query, $token) = @_;
    return $t->request(path => "/explain?$query",
                       headers => $token ? [ [ Authorization => "Bearer $token" ] ]
                                         : []);
}
$r = ask_explain('channel=claims&tier=gold', $admin);
is($r->{status}, 200, 'explain: 200 for an admin');
is($r->{body}, '{"rate_limit":null,"rule":"gold","pool":"agents","upstream":"agents",'
             . '"step":1,"reason":"overflow","passed_over":[{"pool":"experts",'
             . '"in_flight":1,"why":"full"}],"in_flight":{"vip_desk":0,'
             . '"experts":1,"agents":0,"bot":0}}' . "\n",
   '...the decision, the experts passed over as full, every pool in flight');
like(ask_explain('channel=claims&tier=expert', $admin)->{body},
     qr/"pool":null,"upstream":null,"step":null,"reason":"no_capacity"/,
     '...and no_capacity when every target is full');
like(ask_explain('channel=claims&tier=gold&affinity=agents', $admin)->{body},
     qr/"pool":"agents".*"reason":"affinity"/, '...and an affinity given');
like(ask_explain('channel=claims&anonymous=1&tier=guest', $admin)->{body},
     qr/"rule":"anonymous","pool":"bot"/, '...and an anonymous caller');
like(ask_explain('channel=claims&open_case=1', $admin)->{body},
     qr/"rule":"follow-up","pool":"vip_desk"/, '...and a customer with an open case');
like(ask_explain('channel=claims&open_case=0', $admin)->{body},
     qr/"rule":"default"/, '...or without one');
is(ask_explain('channel=claims&tier=gold')->{status}, 401, 'explain: 401 without a token');
is(ask_explain('channel=claims&tier=gold', $customer)->{status}, 403,
   '...403 without the admin role');
for my $q ('tier=gold', 'channel=Web', 'channel=claims&action=Bad',
           'channel=claims&confidence=2&intent=x', 'channel=claims&affinity=ghost',
           'channel=claims&tier=' . ('x' x 200), 'channel=claims&tier=%00x') {
    $r = ask_explain($q, $admin);
    is($r->{status}, 400, "explain?$q: 400");
    like($r->{body}, qr/"error":"invalid_parameter"/, '...invalid_parameter');
}
is(ask_explain('channel=claims&tier=gold', $admin)->{headers}{'x-dispatch'}, undef,
   '...and explaining dispatched nothing');
is(in_flight('experts'), 1, '...nor changed what is in flight');

# every target full: no_capacity, natively
$r = claims('type=phone&value=%2B1555000306&tier=expert');
is($r->{status}, 503, 'every target full: 503');
is($r->{body}, "no_capacity\n", '...no_capacity, rendered by the plugin');
is($r->{headers}{'retry-after'}, 5, '...with a retry hint');
is($r->{headers}{'x-dispatch'}, '- experts-only - no_capacity',
   '...and the decision says so');

my $token = mint(alg => 'HS256', key => $k->{hs32}, sub => 'sub-dispatch',
                 roles => 'customer');
$r = $t->request(path => '/web/orders/O-1',
                 headers => [ [ Authorization => "Bearer $token" ] ]);
is($r->{status}, 503, 'web: 503');
like($r->{body}, qr/^\{"error":\{"code":"no_capacity","message":"[^"]+"\},"request_id":"[0-9a-f]{32}"\}$/,
     '...in the web format');
is($r->{headers}{'retry-after'}, 5, '...with Retry-After');

$r = $t->request(method => 'POST', path => '/miniprogram/order/query',
                 headers => [ [ Authorization => "Bearer $token" ],
                              [ 'Content-Type' => 'application/json' ] ],
                 body => '{"data":{"order_id":"1"}}');
is($r->{status}, 200, 'mini-program: HTTP 200');
like($r->{body}, qr/"errcode":50003,"errmsg":"no_capacity: /, '...errcode 50003');

# the held request ends: the experts are free again
close $held;
ok(wait_in_flight('experts', 0), 'the request ended: nothing in flight to the experts');

# affinity: the caller served by the agents goes back to them, though the
# experts, first of the rule, have room again
$r = claims('type=phone&value=%2B155500041&tier=gold');
is($r->{headers}{'x-dispatch'}, 'agents gold 1 affinity',
   'affinity: the pool that last served the caller, while it has room');
is(in_flight('experts'), 0, '...and the experts were not asked');

# --- a killed worker's requests in flight are not counted forever ---

$held = hold('/claims/x?type=phone&value=%2B1555000307&tier=gold');
ok(wait_in_flight('experts', 1), 'the experts held again');
my @workers = $t->worker_pids;
kill 'KILL', @workers;
my @now;
for (1 .. 250) {
    @now = $t->worker_pids;
    last if @now == 2 && !grep { my $w = $_; grep { $_ == $w } @workers } @now;
    select undef, undef, undef, 0.02;
}
is(scalar(@now), 2, 'both killed workers are replaced');
ok(wait_in_flight('experts', 0), '...and the dead one\'s request in flight is no longer counted');
close $held;

$held = hold('/claims/x?type=phone&value=%2B1555000308&tier=gold');
ok(wait_in_flight('experts', 1), 'the new workers count in flight');
close $held;
ok(wait_in_flight('experts', 0), '...up and down');

# --- counted ---

my $after = scrape();
sub delta { ($after->{$_[0]} // 0) - ($before->{$_[0]} // 0) }
is(delta('omni_dispatch_decisions_total{channel="claims",rule="vip",pool="vip_desk",reason="first"}'),
   1, 'the metrics count the vip decision');
is(delta('omni_dispatch_decisions_total{channel="claims",rule="gold",pool="agents",reason="overflow"}'),
   12, '...the overflows');
is(delta('omni_dispatch_decisions_total{channel="claims",rule="gold",pool="agents",reason="affinity"}'),
   1, '...the affinity');
is(delta('omni_dispatch_decisions_total{channel="claims",rule="experts-only",pool="(none)",reason="no_capacity"}'),
   1, '...and no_capacity');
is(delta('omni_requests_total{channel="claims",outcome="no_capacity",class="5xx"}'),
   1, '...as a request refused no_capacity');

# --- a reload keeps dispatching ---

$t->reload($http, workers => 2);
is(claims('type=phone&value=%2B1555000309&tier=vip')->{headers}{'x-dispatch'},
   'vip_desk vip 0 first', 'a reload keeps dispatching');
is(in_flight('experts'), 0, '...with nothing in flight');

# --- capacities set live ---

my $ops = mint(alg => 'HS256', key => $k->{hs32}, sub => 'ops-2', roles => 'ops');
sub pools {
    my ($method, $query, $token) = @_;
    return $t->request(method => $method, path => '/pools' . ($query ? "?$query" : ''),
                       headers => [ [ Authorization => 'Bearer ' . ($token // $ops) ] ]);
}
$r = pools('GET');
is($r->{status}, 200, 'pools: 200 for the role');
is($r->{body}, '{"pools":[{"pool":"vip_desk","upstream":"vip_desk","kind":"people","capacity":10,"file_capacity":10,"in_flight":0},'
             . '{"pool":"experts","upstream":"experts_backend","kind":"people","capacity":1,"file_capacity":1,"in_flight":0},'
             . '{"pool":"agents","upstream":"agents","kind":"people","capacity":10,"file_capacity":10,"in_flight":0},'
             . '{"pool":"bot","upstream":"bot","kind":"bot","capacity":10,"file_capacity":10,"in_flight":0}]}' . "\n",
   '...every pool, its capacity, the file\'s and in flight');

$r = pools('POST', 'pool=vip_desk&capacity=0');
is($r->{status}, 200, 'the vip desk closed (capacity 0)');
like($r->{body}, qr/"pool":"vip_desk","upstream":"vip_desk","kind":"people","capacity":0,"file_capacity":10/,
     '...as the answer shows');
my @v = map { claims("type=phone&value=%2B15550005$_&tier=vip") } 1 .. 6;
is(scalar(grep { $_->{status} == 503 && $_->{headers}{'x-dispatch'} eq '- vip - no_capacity' } @v), 6,
   '...for every worker: vip requests get no_capacity');
like(ask_explain('channel=claims&tier=vip', $admin)->{body}, qr/"why":"full"/,
     '...as explain says');
is(scrape()->{'omni_pool_capacity{pool="vip_desk"}'}, 0, '...and the capacity gauge');

$t->reload($http, workers => 2);
is(claims('type=phone&value=%2B1555000520&tier=vip')->{status}, 503,
   'a reload keeps the capacity set live');

$r = pools('POST', 'pool=vip_desk&capacity=file');
like($r->{body}, qr/"pool":"vip_desk","upstream":"vip_desk","kind":"people","capacity":10,/,
     'capacity=file: the file\'s again');
is(claims('type=phone&value=%2B1555000521&tier=vip')->{headers}{'x-dispatch'},
   'vip_desk vip 0 first', '...and the desk serves');

for my $case ([ 'pool=ghost&capacity=1', 400 ], [ 'pool=vip_desk&capacity=x', 400 ],
              [ 'pool=vip_desk&capacity=1000001', 400 ], [ 'pool=vip_desk', 400 ],
              [ 'capacity=1', 400 ]) {
    $r = pools('POST', $case->[0]);
    is($r->{status}, $case->[1], "POST pools?$case->[0]: $case->[1]");
    like($r->{body}, qr/"error":"invalid_parameter"/, '...invalid_parameter');
}
is(pools('POST', 'pool=vip_desk&capacity=1', $admin)->{status}, 403,
   'pools: 403 for a token without the location\'s role');
is($t->request(method => 'POST', path => '/pools?pool=vip_desk&capacity=1')->{status}, 401,
   '...401 without a token');
is(pools('PUT', 'pool=vip_desk&capacity=1')->{status}, 405, '...405 for PUT');
like(pools('GET')->{body}, qr/"pool":"vip_desk","upstream":"vip_desk","kind":"people","capacity":10,/,
     '...and none of those changed anything');

# --- capacity per channel: one call but several chats ---

# the desk answers nobody (the experts' socket): what it takes stays in
# flight; it takes 5 requests, of them 1 call
$t->write_file('channels.json', <<'END');
{"version": 1, "affinity_seconds": 0,
 "pools": {
   "desk": {"capacity": 5, "upstream": "experts_backend",
            "channels": {"ivr": 1}},
   "agents": {"capacity": 10}
 },
 "rules": [{"id": "desk", "channels": ["ivr", "web"],
            "targets": ["desk", "agents"]}],
 "default": {"targets": ["agents"]}}
END

# an IVR location (a reload), and the workflow loaded into the store, which
# the workers adopt without one (docs/dispatch.md, "Live revisions")
(my $http_ch = $http) =~ s{(    location = /metrics \{)}{    location /ivr/ {
        omni_channel ivr;
        omni_auth plugin;
        omni_plugin_set auth_token 9f2c4e1a7b3d5f6081a2c3d4e5f60718;
        omni_plugin_set base_url https://gw.example.com;
        omni_plugin_set language en-US;
        proxy_pass http://\$omni_pool;
    }

$1};
$t->reload($http_ch, workers => 2);
{
    my $omnictl = Omni::Test::bin('omnictl');
    my $out = `$omnictl -d $store dispatch load ${\ $t->prefix}/channels.json 2>&1`;
    is($?, 0, 'the workflow with a desk per channel loaded into the store')
        or diag($out);
}

# a Twilio call, signed, left in flight
my $call = do {
    my $fx = JSON::PP::decode_json(Omni::Test::_slurp("$repo/t/fixtures/ivr/incoming_call.json"));
    my $q = $fx->{request};
    my $head = "POST $q->{path} HTTP/1.1\r\nHost: gw.example.com\r\n"
             . "Content-Length: " . length($q->{body}) . "\r\n";
    for my $h (sort keys %{ $q->{headers} }) {
        $head .= "$h: $q->{headers}{$h}\r\n" unless $h eq 'host';
    }
    "$head\r\n$q->{body}";
};
sub hold_raw {
    my ($text) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port,
                                  Proto => 'tcp') or die "connect: $!";
    print $s $text;
    return $s;
}
my $chat = "GET /web/orders/O-7 HTTP/1.1\r\nHost: localhost\r\n"
         . "Authorization: Bearer $token\r\n\r\n";

my @calls = (hold_raw($call));
ok(wait_in_flight('desk', 1), 'an IVR call fills the desk\'s one voice slot');
my $m = scrape();
is($m->{'omni_pool_channel_in_flight{pool="desk",channel="ivr"}'}, 1,
   '...as the metrics count it on its channel');
is($m->{'omni_pool_channel_capacity{pool="desk",channel="ivr"}'}, 1,
   '...beside the channel\'s capacity');
like(ask_explain('channel=ivr', $admin)->{body},
     qr/"pool":"agents","upstream":"agents","step":1,"reason":"overflow","passed_over":\[\{"pool":"desk","in_flight":1,"why":"full"\}\]/,
     '...so the next call goes to the agents');
my @chats = map { hold_raw($chat) } 1 .. 3;
ok(wait_in_flight('desk', 4), '...while web chats still get in (3 more)');
like(ask_explain('channel=web', $admin)->{body}, qr/"rule":"desk","pool":"desk".*"reason":"first"/,
     '...and the next chat would too');
like(pools('GET')->{body},
     qr/\{"pool":"desk","upstream":"experts_backend","kind":"people","capacity":5,"file_capacity":5,"in_flight":4,"channels":\{"ivr":\{"capacity":1,"file_capacity":1,"in_flight":1\}\}\}/,
     'pools: the desk\'s calls in flight beside its total');
push @chats, hold_raw($chat);
ok(wait_in_flight('desk', 5), 'a fourth chat fills the desk');
like(ask_explain('channel=web', $admin)->{body}, qr/"pool":"agents".*"why":"full"/,
     '...whose capacity bounds every channel');

$r = pools('POST', 'pool=desk&channel=ivr&capacity=0');
like($r->{body}, qr/"channels":\{"ivr":\{"capacity":0,"file_capacity":1,"in_flight":1\}/,
     'a channel\'s capacity set live');
$r = pools('POST', 'pool=desk&channel=ivr&capacity=file');
like($r->{body}, qr/"ivr":\{"capacity":1,"file_capacity":1/, '...and back to the workflow\'s');
for my $q ('pool=desk&channel=web&capacity=1', 'pool=agents&channel=ivr&capacity=1',
           'pool=desk&channel=IVR&capacity=1') {
    $r = pools('POST', $q);
    is($r->{status}, 400, "POST pools?$q: 400, not a channel of the pool's own");
}

close $_ for @calls, @chats;
ok(wait_in_flight('desk', 0), 'the calls and chats ended: nothing in flight');
like(pools('GET')->{body}, qr/"ivr":\{"capacity":1,"file_capacity":1,"in_flight":0\}/,
     '...on the voice slot either');

# a killed worker's call is not counted forever on its channel either
@calls = (hold_raw($call));
ok(wait_in_flight('desk', 1), 'a call held again');
@workers = $t->worker_pids;
kill 'KILL', @workers;
for (1 .. 250) {
    @now = $t->worker_pids;
    last if @now == 2 && !grep { my $w = $_; grep { $_ == $w } @workers } @now;
    select undef, undef, undef, 0.02;
}
ok(wait_in_flight('desk', 0), 'a killed worker\'s call is taken off the desk');
like(pools('GET')->{body}, qr/"ivr":\{"capacity":1,"file_capacity":1,"in_flight":0\}/,
     '...and off its voice slot');
close $_ for @calls;

# --- configuration errors ---

$t->write_file('noupstream.json', <<'END');
{"version": 1, "pools": {"ghost": {"capacity": 1}},
 "default": {"targets": ["ghost"]}}
END
$t->write_file('nopools.json', '{"version": 1}');

for my $case (
    [ "omni_dispatch_file %%PREFIX%%/noupstream.json;",
      qr/pool "ghost" names the upstream "ghost", which no upstream\{\} block defines/ ],
    [ "omni_plugins $plugins; omni_lua_library $repo/lua;\n"
      . "omni_dispatch_file %%PREFIX%%/nopools.json; omni_dispatch_zone 1m;\n"
      . "server { listen 127.0.0.1:%%PORT%%; location / { omni_channel claims; omni_auth off; omni_dispatch on; } }",
      qr/"omni_dispatch" needs pools in the workflow file/ ],
    [ "omni_plugins $plugins; omni_lua_library $repo/lua;\n"
      . "server { listen 127.0.0.1:%%PORT%%; location / { omni_channel claims; omni_auth off; omni_dispatch on; } }",
      qr/"omni_dispatch" needs "omni_dispatch_file" and "omni_dispatch_zone"/ ],
    [ "server { listen 127.0.0.1:%%PORT%%; location /e { omni_dispatch_explain; } }",
      qr/"omni_dispatch_explain" directive needs "omni_dispatch_file" with pools/ ],
    [ "omni_dispatch_file %%PREFIX%%/workflow.json;\n"
      . "upstream vip_desk { server 127.0.0.1:1; } upstream agents { server 127.0.0.1:1; }\n"
      . "upstream bot { server 127.0.0.1:1; } upstream experts_backend { server 127.0.0.1:1; }\n"
      . "server { listen 127.0.0.1:%%PORT%%; location /e { omni_dispatch_explain admin; } }",
      qr/invalid parameter "admin", expected "role=NAME"/ ],
) {
    my ($ok, $out) = $t->test_config($case->[0]);
    ok(!$ok, "nginx -t fails: $case->[0]");
    like($out, $case->[1], '...naming the problem');
}

$t->check_error_log(allow => [ qr/exited on signal 9/ ]);

done_testing();
