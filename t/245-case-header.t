# Services open and change the customer's cases with an X-Omni-Case
# response header (docs/cases.md, "Services"): applied once for the
# request's customer, never for another's, never sent to the client;
# what is refused is logged with the request id and why, never the
# header's content; the reply goes through either way.

use strict;
use warnings;

use lib 't/lib';
use JSON::PP;
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint);

my $t = Omni::Test->new;
my $k = keygen($t->prefix . '/keys');
my $repo = Omni::Test::repo_root();
my $store = $t->prefix . '/store';
my $json = JSON::PP->new->canonical->utf8;

mkdir $store or die "$store: $!";
chmod 0777, $store;

$t->write_file('sla.json', '{"default": {"first_response": "2h"}}');
my $sla = $t->prefix . '/sla.json';

# the service answers; X-Test-Case(2) from the client come back as its
# X-Omni-Case headers
my $http = <<"END";
omni_plugins $repo/plugins;
omni_lua_library $repo/lua;
omni_jwt_secret $k->{hs32};
omni_store $store sync=none;
omni_case_sla $sla;

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
    access_log off;
    large_client_header_buffers 4 64k;

    location /reply {
        default_type application/json;
        add_header X-Omni-Case \$http_x_test_case;
        add_header X-Omni-Case \$http_x_test_case2;
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

    location /web/ {
        omni_channel web;
        omni_customers create;
        omni_session on;
        omni_journey on;
        proxy_set_header X-Test-Case \$http_x_test_case;
        proxy_set_header X-Test-Case2 \$http_x_test_case2;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /app/ {
        omni_channel app;
        omni_customers create;
        omni_session on;
        proxy_set_header X-Test-Case \$http_x_test_case;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /miniprogram/ {
        omni_channel miniprogram;
        omni_auth off;
        omni_customers resolve;
        proxy_set_header X-Test-Case \$http_x_test_case;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /admin/ {
        omni_gateway on;
        omni_admin;
    }
}
END

$t->start($http, workers => 2);

sub token { mint(alg => 'HS256', key => $k->{hs32}, sub => $_[0], @_[1 .. $#_]) }
my $admin = token('root', roles => 'admin');

sub web {
    my ($sub, @cases) = @_;
    my @h = ([ Authorization => 'Bearer ' . token($sub) ]);
    push @h, [ 'X-Test-Case' => $cases[0] ] if defined $cases[0];
    push @h, [ 'X-Test-Case2' => $cases[1] ] if defined $cases[1];
    return $t->request(path => '/web/orders/ORD-1', headers => \@h);
}

sub app {
    my ($sub, $case) = @_;
    return $t->request(method => 'POST', path => '/app/rpc',
                       headers => [ [ Authorization => 'Bearer ' . token($sub) ],
                                    [ 'Content-Type' => 'application/json' ],
                                    [ 'X-Device-Id' => "DEV-$sub" ],
                                    [ 'X-Test-Case' => $case ] ],
                       body => '{"jsonrpc":"2.0","method":"order.query",'
                               . '"params":{},"id":1}');
}

sub admin {
    my ($path) = @_;
    my $r = $t->request(path => "/admin$path", no_subst => 1,
                        headers => [ [ Authorization => "Bearer $admin" ] ]);
    return eval { $json->decode($r->{body}) } || {};
}

sub refused {
    my ($why, $name) = @_;
    my $log = $t->log_since_mark;
    like($log, qr/\[warn\].*omni: X-Omni-Case not applied \(request [0-9a-f]{32}\): \Q$why\E/,
         "$name: logged with the request id and why") or diag($log);
}

# --- a service opens a case on the web

$t->mark_log;

my $r = web('alice', '{"open": {"category": "complaint", "subject": '
                     . '"Parcel MARKER-CASE-1 lost", "priority": "high"}}');
is($r->{status}, 200, 'a reply with X-Omni-Case: 200');
ok(!exists $r->{headers}{'x-omni-case'}, 'X-Omni-Case never reaches the client');
my $alice = $r->{headers}{'x-customer'};

my $list = admin("/customers/$alice/cases");
is(scalar @{ $list->{cases} || [] }, 1, 'the case is opened for the customer');
my $c = $list->{cases}[0] || {};
my $id = $c->{id} || '';
is($c->{channel}, 'web', '...on the channel of the request');
is($c->{priority}, 'high', '...with its priority');
is($c->{subject}, 'Parcel MARKER-CASE-1 lost', '...and subject');
ok(defined $c->{first_response_due}, '...and the due time of the SLA table');
like($c->{touches}[0]{session} || '', qr/^[0-9a-f]{32}$/,
     '...touched by the request\'s session');
like($t->log_since_mark, qr/\[info\].*omni: X-Omni-Case opened case $id \(request/,
     'an info line names the case');

my $case = admin("/cases/$id");
is($case->{events}[0]{author}, 'service', 'the author is the service');

# --- the same customer on another channel changes it

$r = app('alice', qq({"case": "$id", "status": "pending", )
                  . '"note": "We need your address"}');
is($r->{status}, 200, 'a change from the app: 200');
$case = admin("/cases/$id");
is($case->{status}, 'pending', 'the status changed');
is($case->{events}[-1]{text}, 'We need your address', 'the note is there');
is($case->{events}[-1]{channel}, 'app', '...from the app');
ok(defined $case->{first_response_at}, 'a public note is a first response');

# --- the contract carries the open cases on every channel

sub contract_of {
    my ($r) = @_;
    my $d = eval { $json->decode($r->{body}) } or return {};
    for my $path ([qw(data contract)], [qw(result contract)]) {
        my $v = $d;
        $v = ref $v eq 'HASH' ? $v->{$_} : undef for @$path;
        return $v if ref $v eq 'HASH';
    }
    return {};
}

my $k1 = contract_of(web('alice'));
is($k1->{version}, '1.3', 'contract 1.3');
is_deeply([ map { [ $_->{id}, $_->{status}, $_->{category} ] }
            @{ $k1->{customer}{cases} || [] } ],
          [ [ $id, 'pending', 'complaint' ] ],
          'web: the contract carries the open case');
like($k1->{customer}{cases}[0]{due} || '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/,
     'web: ...with its due time (answered: the resolution\'s, or null)')
    if defined $k1->{customer}{cases}[0]{due};
ok(!exists $k1->{customer}{cases}[0]{subject}, '...and never its subject');
my $k2 = contract_of(app('alice', ''));
is_deeply([ map { $_->{id} } @{ $k2->{customer}{cases} || [] } ], [ $id ],
          'app: the same case');
my $kb = contract_of(web('carol'));
is_deeply($kb->{customer}{cases}, [], 'a customer without cases: []');
my $mp = $t->request(method => 'POST', path => '/miniprogram/coupon/claim',
                     headers => [ [ 'Content-Type' => 'application/json' ] ],
                     body => '{"data":{"coupon_id":"C1"},"openid":"o-nobody"}');
my $km = contract_of($mp);
is($km->{customer}{cases}, undef, 'no customer: null');
ok(exists $km->{customer}{cases}, '...but the key is there');

# --- another customer's case is as good as none

$t->mark_log;
web('bob');
$r = web('bob', qq({"case": "$id", "status": "resolved"}));
is($r->{status}, 200, "another customer's case: the reply goes through");
is(admin("/cases/$id")->{status}, 'pending', "...and the case is unchanged");
refused("the customer has no case $id", "another customer's case");

# --- refusals

$t->mark_log;
$r = web('alice', '{"open": {"category": "complaint", "subject": "SECRET\u0001"}}');
is($r->{status}, 200, 'an invalid header: the reply goes through');
refused('open.subject must be', 'an invalid subject');
unlike($t->log_since_mark, qr/SECRET/, '...the value is in no log line');

$t->mark_log;
$r = web('alice', '{"open":', undef);
refused('the header is not valid JSON', 'not JSON');

$t->mark_log;
my $typo = $id;
substr($typo, 0, 1) = (substr($id, 0, 1) + 1) % 10;
$r = web('alice', qq({"case": "$typo", "status": "open"}));
refused('"case" must be a case id', 'a mistyped case id');

$t->mark_log;
$r = web('alice', qq({"case": "$id", "status": "new"}));
refused("case $id cannot go from pending to new", 'a refused move');

$t->mark_log;
$r = web('alice', qq({"case": "$id", "status": "open"}),
         qq({"case": "$id", "status": "resolved"}));
is($r->{status}, 200, 'two headers: the reply goes through');
refused('the reply has 2 of them, none is applied', 'two headers');
is(admin("/cases/$id")->{status}, 'pending', 'two headers: none applied');

$t->mark_log;
$r = $t->request(method => 'POST', path => '/miniprogram/coupon/claim',
                 headers => [ [ 'Content-Type' => 'application/json' ],
                              [ 'X-Test-Case' => '{"open": {"category": "c", "subject": "s"}}' ] ],
                 body => '{"data":{"coupon_id":"C1"},"openid":"o-unknown"}');
is($r->{status}, 200, 'no customer: the reply goes through');
refused('the request has no customer', 'no customer');

unlike($t->log_since_mark . $t->read_file('error.log'), qr/MARKER-CASE|We need your/,
       'no subject or note in the error log');

$t->stop;

done_testing;
