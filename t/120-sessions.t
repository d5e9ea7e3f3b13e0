# One customer across channels: identities resolve to one customer id,
# the customer's session is resumed from any channel and any worker, the
# services' context patches round-trip, revocation ends a session, the
# journey records every request, newest first and bounded.

use strict;
use warnings;

use lib 't/lib';
use JSON::PP;
use POSIX ();
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint);

my $t = Omni::Test->new;
my $k = keygen($t->prefix . '/keys');
my $repo = Omni::Test::repo_root();
my $store = $t->prefix . '/store';
my $omnictl = Omni::Test::bin('omnictl');
my $json = JSON::PP->new->canonical;

mkdir $store or die "$store: $!";
chmod 0777, $store;

# The service answers with the contract it received; X-Test-Patch from the
# client comes back as the service's X-Omni-Context.
my $http = <<"END";
omni_plugins $repo/plugins;
omni_lua_library $repo/lua;
omni_jwt_secret $k->{hs32};
omni_store $store sync=none;
omni_session_timeout idle=30m absolute=24h touch=60s purge=1s;
omni_journey_limits max=5 flush=20ms;

server {
    listen 127.0.0.1:%%PORT1%%;
    access_log off;
    client_body_buffer_size 64k;

    location / {
        proxy_buffer_size 16k;
        proxy_buffers 8 16k;
        proxy_set_header X-Contract \$request_body;
        proxy_pass http://127.0.0.1:%%PORT2%%/reply;
    }
}

server {
    listen 127.0.0.1:%%PORT2%%;
    large_client_header_buffers 4 64k;
    access_log off;

    location /reply {
        default_type application/json;
        add_header X-Omni-Context \$http_x_test_patch;
        add_header X-Omni-Context \$http_x_test_patch2;
        return 200 '{"ok":true,"data":{"contract":\$http_x_contract}}';
    }
}

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;
    proxy_buffer_size 16k;
    proxy_buffers 8 16k;

    proxy_method POST;
    proxy_set_header Content-Type application/json;
    proxy_set_header Authorization "";
    proxy_set_body \$omni_contract;
    add_header X-Customer \$omni_customer always;
    add_header X-Session \$omni_session always;

    location /web/ {
        omni_channel web;
        omni_customers create;
        omni_session on;
        omni_journey on;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /app/ {
        omni_channel app;
        omni_customers create;
        omni_session on;
        omni_journey on;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /miniprogram/ {
        omni_channel miniprogram;
        omni_auth off;
        omni_customers resolve;
        omni_session on;
        omni_journey on;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

}

# the same channel without sessions
server {
    listen 127.0.0.1:%%PORT3%%;
    server_name localhost;

    proxy_method POST;
    proxy_set_header Content-Type application/json;
    proxy_set_body \$omni_contract;

    location /web/ {
        omni_channel web;
        omni_customers create;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }
}
END

$t->start($http, workers => 2);

sub token { mint(alg => 'HS256', key => $k->{hs32}, sub => $_[0]) }

sub web {
    my ($sub, %h) = @_;
    my $r = $t->request(path => '/web/orders/ORD-1',
                        headers => [ [ Authorization => 'Bearer ' . token($sub) ],
                                     map { [ $_ => $h{$_} ] } sort keys %h ]);
    return ($r, _contract($r->{body}));
}

sub app {
    my ($sub, $device) = @_;
    my $r = $t->request(method => 'POST', path => '/app/rpc',
                        headers => [ [ Authorization => 'Bearer ' . token($sub) ],
                                     [ 'Content-Type' => 'application/json' ],
                                     [ 'X-Device-Id' => $device ] ],
                        body => '{"jsonrpc":"2.0","method":"order.query","params":{},"id":1}');
    return ($r, _contract($r->{body}));
}

sub miniprogram {
    my ($openid) = @_;
    my $r = $t->request(method => 'POST', path => '/miniprogram/coupon/claim',
                        headers => [ [ 'Content-Type' => 'application/json' ] ],
                        body => qq({"data":{"coupon_id":"C1"},"openid":"$openid"}));
    return ($r, _contract($r->{body}));
}

# the contract, wherever the channel's rendering put the service's data
sub _contract {
    my ($body) = @_;
    my $d = eval { decode_json($body) } or return undef;
    for my $path ([qw(data contract)], [qw(result contract)], ['contract']) {
        my $v = $d;
        $v = ref $v eq 'HASH' ? $v->{$_} : undef for @$path;
        return $v if ref $v eq 'HASH';
    }
    return undef;
}

sub ctl {
    my $out = `$omnictl -d $store @_ 2>&1`;
    is($? >> 8, 0, "omnictl @_") or diag($out);
    return eval { decode_json($out) } || $out;
}

# --- first contact creates a customer and a session ---

my ($r, $c) = web('alice');
is($r->{status}, 200, 'web request passes');
ok($c, 'the service got a contract') or diag($r->{body});
is($c->{version}, '1.3', 'contract 1.3');
like($c->{customer}{id}, qr/^[0-9a-f]{32}$/, 'a new customer id');
is($c->{customer}{anonymous}, JSON::PP::false, 'not anonymous');
ok($c->{session}{new}, 'a new session');
like($c->{session}{id}, qr/^[0-9a-f]{32}$/, 'a session id');
is_deeply($c->{session}{channels}, ['web'], 'the session has seen the web');
is_deeply($c->{session}{context}, {}, 'an empty context');
is($r->{headers}{'x-customer'}, $c->{customer}{id}, '$omni_customer');
is($r->{headers}{'x-session'}, $c->{session}{id}, '$omni_session');
my $alice = $c->{customer}{id};
my $sid = $c->{session}{id};

# --- the same customer on another channel, many times over two workers ---

my %seen_workers;
for my $i (1 .. 8) {
    my ($ar, $ac) = app('alice', 'DEV-A');
    is($ac->{customer}{id}, $alice, "app request $i: the same customer");
    is($ac->{session}{id}, $sid, "app request $i: the same session");
    ok(!$ac->{session}{new}, "app request $i: resumed") if $i == 1;
    is_deeply($ac->{session}{channels}, ['web', 'app'],
              "app request $i: the session crossed web and app") if $i == 1;
}

# the app's device id now names alice too
my $res = ctl('resolve', 'device_id', 'DEV-A');
is($res->{customer}, $alice, 'the device id was linked to the customer');

# --- a signed-out channel finds the customer by a linked identity ---

($r, $c) = miniprogram('o6_unknown');
is($r->{status}, 200, 'an unknown openid passes');
is($c->{customer}{id}, undef, '...without a customer (resolve only)');
is($c->{session}, undef, '...and without a session');
ok($c->{customer}{anonymous}, '...anonymous');

ctl('link', 'wechat_openid', 'o6_alice', $alice);
($r, $c) = miniprogram('o6_alice');
is($c->{customer}{id}, $alice, 'a linked openid resolves to the customer');
is($c->{session}{id}, $sid, '...and resumes the session');
is_deeply($c->{session}{channels}, ['web', 'app', 'miniprogram'],
          '...which has now crossed three channels');

# --- merge: two ids found to be one person ---

($r, $c) = web('alice-second-account');
my $other = $c->{customer}{id};
isnt($other, $alice, 'a second subject is another customer');
ctl('merge', $other, $alice);
($r, $c) = web('alice-second-account');
is($c->{customer}{id}, $alice, 'after the merge it resolves to the survivor');

# --- context: a merge patch from the service, applied and stripped ---

($r, $c) = web('alice', 'X-Test-Patch' => '{"cart":{"items":2},"step":"pay"}');
ok(!exists $r->{headers}{'x-omni-context'}, 'the patch header never reaches the client');
($r, $c) = web('alice', 'X-Test-Patch' => '{"step":null,"cart":{"coupon":"C1"}}');
($r, $c) = web('alice');
is_deeply($c->{session}{context}, { cart => { items => 2, coupon => 'C1' } },
          'both patches merged into the context the next request carries');
($r, $c) = app('alice', 'DEV-A');
is_deeply($c->{session}{context}{cart}, { items => 2, coupon => 'C1' },
          'the context travels to the other channel');

# what is not applied is logged at warn with the request id, never with
# the header's content, and counted per worker
sub context_warning {
    my ($r, $c, $why, $name) = @_;
    my $id = $c && $c->{request_id} // 'no request id';
    my ($line) = grep { /\Q$id\E/ } split /\n/, $t->log_since_mark;
    like($line // '', qr/\[warn\] \d+#\d+: \*\d+ omni: X-Omni-Context not applied \(request \Q$id\E(, session $sid)?\): \Q$why\E \(\d+ such replies in this worker\)/,
         "$name: a warning naming the request");
    return $line // '';
}

$t->mark_log;
($r, $c) = web('alice', 'X-Test-Patch' => '[1,2]');
is($r->{status}, 200, 'a patch that is not an object does not fail the reply');
context_warning($r, $c, 'the patch is not a JSON object',
                'a patch that is not an object');

$t->mark_log;
($r, $c) = web('alice', 'X-Test-Patch' => '{"card":"6222020202020202" "pin":"7788"}');
is($r->{status}, 200, 'a patch that is not JSON does not fail the reply');
my $line = context_warning($r, $c,
                           'the patch is not valid JSON: invalid syntax at line 1 column 32',
                           'a patch that is not JSON');
unlike($t->log_since_mark, qr/6222020202020202|7788/,
       '...and the log never has its content');

# two headers: which one the service meant cannot be told, so neither
$t->mark_log;
($r, $c) = web('alice', 'X-Test-Patch' => '{"step":"one"}',
               'X-Test-Patch2' => '{"step":"two"}');
is($r->{status}, 200, 'two X-Omni-Context headers do not fail the reply');
ok(!exists $r->{headers}{'x-omni-context'}, '...neither reaches the client');
context_warning($r, $c, 'the reply has 2 of them, none is applied',
                'two X-Omni-Context headers');
($r, $c) = web('alice');
ok(!exists $c->{session}{context}{step}, '...and neither is applied');

# every refusal counts, in the worker that saw it
for my $i (1 .. 6) {
    web('alice', 'X-Test-Patch' => 'not json');
}
my %counts;
for (split /\n/, $t->error_log) {
    push @{ $counts{$1} }, $2
        if /\[warn\] (\d+)#.*X-Omni-Context not applied \(request \w+, session \w+\): .* \((\d+) such/;
}
my @bad = grep { my @n = @{ $counts{$_} }; join(',', @n) ne join(',', 1 .. @n) }
          keys %counts;
ok(%counts && !@bad, 'each worker counts what it refused, one by one')
    or diag(explain(\%counts));
my $big = '{"blob":"' . ('x' x 5000) . '"}';
($r, $c) = web('alice', 'X-Test-Patch' => $big);
is($r->{status}, 200, 'a patch making the context too big does not fail the reply');
($r, $c) = web('alice');
is_deeply($c->{session}{context}, { cart => { items => 2, coupon => 'C1' } },
          '...and leaves the context as it was');

my $ses = ctl('session', $sid);
is($ses->{customer}, $alice, 'omnictl shows the session');
is_deeply($ses->{context}{cart}, { items => 2, coupon => 'C1' }, '...with its context');

# a location without sessions: customer, no session
($r, $c) = $t->request(port => $t->port(3), path => '/web/orders/1',
                       headers => [ [ Authorization => 'Bearer ' . token('alice') ] ]);
$c = _contract($r->{body});
is($c->{customer}{id}, $alice, 'omni_session off: the customer still resolves');
is($c->{session}, undef, '...the session is null');

$t->mark_log;
$r = $t->request(port => $t->port(3), path => '/web/orders/1',
                 headers => [ [ Authorization => 'Bearer ' . token('alice') ],
                              [ 'X-Test-Patch' => '{"step":"x"}' ] ]);
$c = _contract($r->{body});
is($r->{status}, 200, 'omni_session off: a patch does not fail the reply');
ok(!exists $r->{headers}{'x-omni-context'}, '...never reaches the client');
context_warning($r, $c, 'the request has no session',
                'omni_session off: a patch');

# --- journeys: newest first, bounded to max=5 ---

select(undef, undef, undef, 0.3);   # two flushes of 20 ms, any worker
my $j = ctl('journey', $alice);
is(scalar @{ $j->{events} }, 5, 'the journey keeps max=5 events');
my @times = map { $_->{time} } @{ $j->{events} };
is_deeply(\@times, [ sort { $b cmp $a } @times ], 'newest first');
is($j->{events}[0]{channel}, 'web', 'the last request was on the web');
is($j->{events}[0]{action}, 'order.query', '...its action');
is($j->{events}[0]{outcome}, 'ok', '...its outcome');
is($j->{events}[0]{session}, $sid, '...its session');
my $page = ctl('journey', $alice, '--limit', 2);
is(scalar @{ $page->{events} }, 2, 'a page of two');
my $next = ctl('journey', $alice, '--limit', 2, '--before', $page->{next});
is($next->{events}[0]{time}, $j->{events}[2]{time}, 'the next page goes on where it stopped');

# --- revocation ends the session everywhere ---

ctl('session-revoke', $sid);
($r, $c) = app('alice', 'DEV-A');
is($c->{customer}{id}, $alice, 'after the session is revoked the customer stays');
isnt($c->{session}{id}, $sid, '...but a new session begins');
ok($c->{session}{new}, '...marked new');

# --- first contact racing on two workers: one customer, one session ---

my $racers = $t->prefix . '/racers';
mkdir $racers or die "$racers: $!";
my @kids;
for my $n (1 .. 8) {
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        my ($rr) = web('racer-carol');
        open my $fh, '>', "$racers/$n" or POSIX::_exit(1);
        print $fh join(' ', $rr->{status}, $rr->{headers}{'x-customer'} // '-',
                       $rr->{headers}{'x-session'} // '-'), "\n";
        close $fh;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}
waitpid($_, 0) for @kids;
my %customers_seen = my %sessions_seen = ();
for my $n (1 .. 8) {
    my ($status, $cust, $sess) = split ' ', $t->read_file("racers/$n");
    is($status, 200, "racer $n passed");
    $customers_seen{$cust}++;
    $sessions_seen{$sess}++;
}
is(scalar keys %customers_seen, 1, 'eight simultaneous first requests make one customer');
is(scalar keys %sessions_seen, 1, '...and one session');

# --- configuration errors ---

my @bad_configs = (
    [ "omni_store $store;\nserver { listen 127.0.0.1:%%PORT%%; location / { omni_session on; } }",
      qr/"omni_session" needs "omni_customers resolve" or "omni_customers create"/ ],
    [ "server { listen 127.0.0.1:%%PORT%%; location / { omni_customers create; } }",
      qr/"omni_customers" needs "omni_store" at the http level/ ],
    [ "omni_store $store;\nserver { listen 127.0.0.1:%%PORT%%; location / { omni_customers create; } }",
      qr/"omni_customers" needs "omni_channel"/ ],
    [ "omni_session_timeout idle=10s touch=1m;",
      qr/"omni_session_timeout" directive needs touch= shorter than idle=/ ],
    [ "omni_session_timeout idle=soon;", qr/invalid time in "idle=soon"/ ],
    [ "omni_session_timeout absolute=1h;", qr/needs idle=time/ ],
    [ "omni_session_timeout idle=1m lifetime=2h;", qr/invalid parameter "lifetime=2h"/ ],
    [ "omni_journey_limits max=0;", qr/invalid value in "max=0"/ ],
    [ "omni_journey_limits keep=3;", qr/invalid parameter "keep=3"/ ],
    [ "omni_journey_limits thread_pool=;", qr/invalid value in "thread_pool="/ ],
    [ "omni_journey_limits flush=1s;\nomni_journey_limits max=5;",
      qr/"omni_journey_limits" directive is duplicate/ ],
    [ "omni_plugins $repo/plugins;\nomni_lua_library $repo/lua;\n"
      . "omni_store $store;\nomni_journey_limits thread_pool=journeys;\n"
      . "server { listen 127.0.0.1:%%PORT%%; location / { omni_channel web; "
      . "omni_auth off; omni_customers create; omni_journey on; } }",
      qr/unknown thread pool "journeys"/ ],
    [ "server { listen 127.0.0.1:%%PORT%%; location / { omni_customers maybe; } }",
      qr/invalid value "maybe"/ ],
);

my ($warn_ok, $warn_out) = $t->test_config(<<"END");
omni_plugins $repo/plugins;
omni_lua_library $repo/lua;
omni_store $store sync=none;
server {
    listen 127.0.0.1:%%PORT%%;
    location /miniprogram/ { omni_channel miniprogram; omni_auth off; omni_customers create; }
}
END
ok($warn_ok, 'omni_customers create on an unauthenticated channel is allowed')
    or diag($warn_out);
like($warn_out, qr/\[warn\] "omni_customers create" with "omni_auth off" lets clients link any identity/,
     '...with a warning');

for my $case (@bad_configs) {
    my ($ok, $out) = $t->test_config($case->[0]);
    ok(!$ok, "nginx -t fails: $case->[0]");
    like($out, $case->[1], '...naming the problem');
}

unlike($t->error_log, qr/\[(alert|crit|emerg)\]/, 'no alerts in the error log');

done_testing();
