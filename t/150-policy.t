# Role permissions: the same request allowed for one role and denied for
# another on two channels, replies masked differently per role, denials
# audited, and a policy changed through the admin API in force on the next
# request in every worker, then rolled back.

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
my $audit = $t->prefix . '/audit.log';

mkdir $store or die "$store: $!";
chmod 0777, $store;

my $policy = {
    version => 1,
    anonymous_role => 'anonymous',
    roles => {
        anonymous => {
            rules => [ { id => 'anon-coupons', effect => 'allow',
                         actions => ['coupon.*'] } ],
        },
        customer => {
            rules => [ { id => 'cust-self', effect => 'allow',
                         actions => ['order.query', 'order.list', 'customer.*'] } ],
            scopes => [ { path => 'data.bank_card', mask => { keep_last => 4 } },
                        { path => 'data.id_number', remove => JSON::PP::true } ],
        },
        agent => {
            inherits => ['customer'],
            rules => [ { id => 'agent-orders', effect => 'allow',
                         actions => ['order.*'], channels => ['web'] },
                       { id => 'agent-no-create', effect => 'deny',
                         actions => ['order.create'] } ],
            scopes => [ { path => 'data.bank_card', mask => { keep_last => 4 } },
                        { path => 'data.id_number', remove => JSON::PP::true } ],
        },
        supervisor => {
            inherits => ['agent'],
        },
    },
};

my $json = JSON::PP->new->canonical;
$t->write_file('policy.json', $json->encode($policy));

my $http = <<"END";
omni_plugins $repo/plugins;
omni_lua_library $repo/lua;
omni_jwt_secret $k->{hs32};
omni_store $store sync=none;
omni_policy_file %%PREFIX%%/policy.json;
omni_policy_audit %%PREFIX%%/audit.log;

server {
    listen 127.0.0.1:%%PORT1%%;
    access_log off;
    location / {
        default_type application/json;
        if (\$http_x_dup) {
            return 200 '{"ok":true,"data":{"bank_card":"6222020202020202"},"data":{"bank_card":"6222020202020202"}}';
        }
        return 200 '{"ok":true,"data":{"name":"Li Lei","bank_card":"6222020202020202","id_number":"110101199003071234"}}';
    }
}

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;

    proxy_method POST;
    proxy_set_body \$omni_contract;
    add_header X-Rule \$omni_policy_rule always;
    add_header X-Decision \$omni_policy_decision always;
    add_header X-Revision \$omni_policy_revision always;

    location /web/ {
        omni_channel web;
        omni_policy on;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /app/ {
        omni_channel app;
        omni_policy on;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /miniprogram/ {
        omni_channel miniprogram;
        omni_auth off;
        omni_policy on;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /admin/ {
        omni_gateway on;
        omni_admin;
        client_body_buffer_size 1m;
    }
}
END

$t->start($http, workers => 2);

sub bearer { [ Authorization => 'Bearer ' . mint(alg => 'HS256', key => $k->{hs32},
                                                 sub => $_[0], roles => $_[1]) ] }

sub web {
    my ($roles, $method, $path, $body) = @_;
    return $t->request(method => $method, path => $path,
                       headers => [ bearer('u-' . $roles, $roles),
                                    [ 'Content-Type' => 'application/json' ] ],
                       defined $body ? (body => $body) : ());
}

sub app {
    my ($roles, $action) = @_;
    return $t->request(method => 'POST', path => '/app/rpc',
                       headers => [ bearer('u-' . $roles, $roles),
                                    [ 'Content-Type' => 'application/json' ] ],
                       body => qq({"jsonrpc":"2.0","method":"$action","params":{"order_id":"O-1"},"id":7}));
}

sub data_of {
    my $d = eval { decode_json($_[0]{body}) } || {};
    return $d->{data} || $d->{result} || {};
}

# --- one request, two roles, two channels ---

my $r = web('customer', 'GET', '/web/orders/O-1');
is($r->{status}, 200, 'web: a customer may query an order');
is($r->{headers}{'x-rule'}, 'cust-self', '...by rule cust-self');
is($r->{headers}{'x-decision'}, 'allow', '...$omni_policy_decision');

$r = web('customer', 'POST', '/web/orders/O-1/refund', '{}');
is($r->{status}, 403, 'web: a customer may not refund');
like($r->{body}, qr/"code":"permission_denied"/, '...permission_denied, rendered by the web plugin');
is($r->{headers}{'x-rule'}, 'default', '...by the default deny');

$r = web('agent', 'POST', '/web/orders/O-1/refund', '{}');
is($r->{status}, 200, 'web: an agent may refund');
is($r->{headers}{'x-rule'}, 'agent-orders', '...by rule agent-orders');

$r = app('agent', 'order.refund');
is($r->{status}, 200, 'app: JSON-RPC answers with HTTP 200');
like($r->{body}, qr/"code":-?\d+.*permission_denied|permission_denied/s,
     'app: an agent may not refund outside the web channel');
is($r->{headers}{'x-rule'}, 'default', '...the web-only rule does not apply');

$r = app('customer', 'order.query');
unlike($r->{body}, qr/permission_denied/, 'app: a customer may query an order');

$r = web('supervisor', 'POST', '/web/orders', '{"sku":"X"}');
is($r->{status}, 403, 'a supervisor inherits the agent deny');
is($r->{headers}{'x-rule'}, 'agent-no-create', '...explicit deny wins over any allow');

$r = web('nobody-role', 'GET', '/web/orders/O-1');
is($r->{status}, 403, 'a role the policy does not know grants nothing');

$r = $t->request(method => 'POST', path => '/miniprogram/coupon/claim',
                 headers => [ [ 'Content-Type' => 'application/json' ] ],
                 body => '{"data":{"coupon_id":"C1"},"openid":"o6_anon"}');
isnt($r->{status}, 403, 'anonymous callers have the anonymous role');
is($r->{headers}{'x-rule'}, 'anon-coupons', '...rule anon-coupons');
$r = $t->request(method => 'POST', path => '/miniprogram/order/query',
                 headers => [ [ 'Content-Type' => 'application/json' ] ],
                 body => '{"data":{"order_id":"O-1"},"openid":"o6_anon"}');
like($r->{body}, qr/permission_denied/, '...and nothing else');

# --- scopes: the same reply, different detail per role ---

my $d = data_of(web('agent', 'GET', '/web/orders/O-1'));
is($d->{bank_card}, '************0202', 'an agent sees the last 4 digits of the card');
ok(!exists $d->{id_number}, '...and no id number');
is($d->{name}, 'Li Lei', '...and the rest');

$d = data_of(web('supervisor', 'GET', '/web/orders/O-1'));
is($d->{bank_card}, '6222020202020202', 'a supervisor (no scopes) sees the card');
is($d->{id_number}, '110101199003071234', '...and the id number');

$d = data_of(web('agent,supervisor', 'GET', '/web/orders/O-1'));
is($d->{bank_card}, '6222020202020202',
   'with two roles, a field one of them may see is shown');

$d = data_of(app('customer', 'order.query'));
is($d->{bank_card}, '************0202', 'the app channel is masked the same way');

$r = $t->request(path => '/web/orders/O-1',
                 headers => [ bearer('u-agent', 'agent'), [ 'X-Dup' => 1 ] ]);
is($r->{status}, 502, 'a reply that cannot be scoped (a duplicate key) is not sent');
unlike($r->{body}, qr/6222/, '...nothing of it reaches the caller');
like($t->error_log, qr/the reply cannot be scoped for the caller's roles/, '...logged');

# --- the audit log ---

my @lines = grep { length } split /\n/, $t->read_file('audit.log');
cmp_ok(scalar @lines, '>=', 5, 'every deny is audited');
my @entries = map { decode_json($_) } @lines;
my ($sup) = grep { $_->{rule} eq 'agent-no-create' } @entries;
ok($sup, 'the supervisor denial is there');
is($sup->{subject}, 'u-supervisor', '...with the subject');
is_deeply($sup->{roles}, ['supervisor'], '...the roles');
is($sup->{channel}, 'web', '...the channel');
is($sup->{action}, 'order.create', '...the action');
is($sup->{decision}, 'deny', '...the decision');
like($sup->{request_id}, qr/^[0-9a-f]{32}$/, '...the request id');
is($sup->{revision}, 1, '...the policy revision (the file seeded revision 1)');
ok(!grep({ /eyJ/ } @lines), 'no token in the audit log');
ok(!grep({ $_->{decision} eq 'allow' } @entries), 'allows are not audited by default');

# --- live change through the admin API, every worker, then rollback ---

my $admin = bearer('secops-1', 'admin');
$policy->{roles}{customer}{rules}[0]{actions} = ['order.*', 'customer.*'];
$r = $t->request(method => 'PUT', path => '/admin/policy',
                 headers => [ $admin, [ 'Content-Type' => 'application/json' ] ],
                 body => $json->encode($policy));
is($r->{status}, 201, 'PUT /admin/policy stores a new revision') or diag($r->{body});
is(decode_json($r->{body})->{revision}, 2, '...revision 2');

for my $i (1 .. 6) {
    $r = web('customer', 'POST', '/web/orders/O-1/refund', '{}');
    is($r->{status}, 200, "request $i after the change: a customer may refund");
    is($r->{headers}{'x-revision'}, 2, "request $i: decided by revision 2");
}
like($t->error_log, qr/omni: policy revision 2 in use \(was 1\)/, 'workers log the switch');

my $bad = { %$policy, roles => { a => { inherits => ['b'] }, b => { inherits => ['a'] } } };
$r = $t->request(method => 'PUT', path => '/admin/policy',
                 headers => [ $admin, [ 'Content-Type' => 'application/json' ] ],
                 body => $json->encode($bad));
is($r->{status}, 422, 'an invalid policy is refused');
like($r->{body}, qr/cycle/, '...naming the problem');
$r = web('customer', 'POST', '/web/orders/O-1/refund', '{}');
is($r->{headers}{'x-revision'}, 2, '...and the running policy stays');

$r = $t->request(method => 'POST', path => '/admin/policy/rollback',
                 headers => [ $admin, [ 'Content-Type' => 'application/json' ] ],
                 body => '{"revision":1}');
is($r->{status}, 201, 'rollback to revision 1') or diag($r->{body});
for my $i (1 .. 4) {
    $r = web('customer', 'POST', '/web/orders/O-1/refund', '{}');
    is($r->{status}, 403, "request $i after the rollback: denied again");
}
is($r->{headers}{'x-revision'}, 3, 'the rollback is revision 3');
like($t->error_log, qr/omni admin: policy revision 2 .* by "secops-1"/,
     'the change is logged with who made it');
$r = $t->request(path => '/admin/policy/revisions', headers => [ $admin ]);
my %by = map { $_->{revision} => $_ } @{ decode_json($r->{body})->{revisions} };
is($by{2}{author}, 'secops-1', 'revision 2 records its author');
like($by{1}{author}, qr/^file:.*policy\.json$/, 'revision 1 was seeded from the file');
is($by{3}{note}, 'rollback to 1', 'revision 3 says it is a rollback');
$r = $t->request(path => '/admin/policy/diff?from=1&to=2', headers => [ $admin ]);
like($r->{body}, qr/"changed":\["customer"\]/, 'the diff names the changed role');

# a policy larger than other admin bodies (64k) goes through PUT too
my $big = { %$policy, roles => { %{ $policy->{roles} } } };
$big->{roles}{"filler-$_"} = { description => 'x' x 200 } for 1 .. 400;
$r = $t->request(method => 'PUT', path => '/admin/policy',
                 headers => [ $admin, [ 'Content-Type' => 'application/json' ] ],
                 body => $json->encode($big));
cmp_ok(length $json->encode($big), '>', 65536, 'a policy over 64k...');
is($r->{status}, 201, '...is accepted by PUT /admin/policy') or diag($r->{body});
$r = $t->request(method => 'PUT', path => '/admin/policy',
                 headers => [ $admin, [ 'Content-Type' => 'application/json' ] ],
                 body => $json->encode($policy));
is($r->{status}, 201, 'and the smaller one again');



# --- "all": allows are audited too ---

(my $http_all = $http) =~ s{omni_policy_audit %%PREFIX%%/audit.log;}
                           {omni_policy_audit %%PREFIX%%/audit-all.log all;};
$t->start($http_all, workers => 2);
$r = web('customer', 'GET', '/web/orders/O-1');
is($r->{status}, 200, 'with "all" an allowed request passes');
my ($allow) = map { decode_json($_) } grep { length } split /\n/, $t->read_file('audit-all.log');
is($allow->{decision}, 'allow', '...and is audited');
is($allow->{rule}, 'cust-self', '...with its rule');

# --- configuration errors ---

$t->write_file('broken.json', '{"version":1,"roles":{"a":{"inherits":["a"]},"b":{"rules":[{"id":"x","effect":"maybe","actions":["*"]}]}}}');
my @bad = (
    [ "omni_policy_file %%PREFIX%%/broken.json;",
      qr/invalid policy file ".*broken.json":\n.*cycle.*\n.*effect/s ],
    [ "omni_policy_file %%PREFIX%%/missing.json;", qr/missing.json" failed/ ],
    [ "omni_policy_file %%PREFIX%%/policy.json;\nserver { listen 127.0.0.1:%%PORT%%; location / { omni_policy on; } }",
      qr/"omni_policy" needs "omni_channel"/ ],
    [ "omni_plugins $repo/plugins;\nomni_lua_library $repo/lua;\nomni_jwt_secret $k->{hs32};\nserver { listen 127.0.0.1:%%PORT%%; location /web/ { omni_channel web; omni_policy on; } }",
      qr/"omni_policy" needs "omni_policy_file" or "omni_store"/ ],
    [ "omni_policy_audit %%PREFIX%%/a.log everything;",
      qr/invalid parameter "everything", expected "all"/ ],
);
for my $case (@bad) {
    my ($ok, $out) = $t->test_config($case->[0]);
    ok(!$ok, 'nginx -t fails: ' . (split /\n/, $case->[0])[-1]);
    like($out, $case->[1], '...naming the problem');
}

unlike($t->error_log, qr/\[(alert|crit|emerg)\]/, 'no alerts in the error log');

done_testing();
