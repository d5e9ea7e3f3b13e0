# The admin API under the policy engine: with omni_policy on in the admin
# location, every route is the action admin.RESOURCE.read (GET, HEAD) or
# admin.RESOURCE.write, decided for the token's roles instead of the one
# omni_admin role, so that an agent may read customers and revoke
# sessions while only operators change the policy; and the answers pass
# through the roles' scopes, so an agent sees identity values masked.
# Denials are 403 permission_denied, audited; the location without the
# policy keeps the role check.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint);

my $t = Omni::Test->new;
my $k = keygen($t->prefix . '/keys');
my $store = $t->prefix . '/store';

mkdir $store or die "$store: $!";
chmod 0777, $store;

$t->write_file('policy.json', <<'END');
{"version": 1,
 "roles": {
   "agent": {"rules": [
     {"id": "agent-reads", "effect": "allow",
      "actions": ["admin.customers.read", "admin.identities.read"]},
     {"id": "agent-sessions", "effect": "allow",
      "actions": ["admin.sessions.*"]}],
    "scopes": [{"path": "value", "mask": {"keep_last": 4}},
               {"path": "identities.*.value", "mask": {"keep_last": 4}}]},
   "ops": {"rules": [
     {"id": "ops-all", "effect": "allow", "actions": ["admin.*"]}]}}}
END

my $http = <<"END";
omni_store $store sync=none;
omni_jwt_secret $k->{hs32};
omni_policy_file %%PREFIX%%/policy.json;
omni_policy_audit %%PREFIX%%/audit.log;

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;

    location /admin/ {
        omni_gateway on;
        omni_admin;
        omni_policy on;
    }

    location /classic/ {
        omni_gateway on;
        omni_admin;
    }
}
END

$t->start($http, workers => 2);

my $agent = mint(alg => 'HS256', key => $k->{hs32}, sub => 'agent-Ann',
                 roles => 'agent');
my $ops = mint(alg => 'HS256', key => $k->{hs32}, sub => 'ops-Olga',
               roles => 'ops');
my $admin = mint(alg => 'HS256', key => $k->{hs32}, sub => 'root-Rita',
                 roles => 'admin');

sub call {
    my ($token, $method, $path, $body) = @_;
    return $t->request(method => $method, path => $path, no_subst => 1,
                       headers => [ [ Authorization => "Bearer $token" ] ],
                       (defined $body ? (body => $body) : ()));
}

# operators may do everything, including what agents may not
my $customer = 'cust-p1';
my $r = call($ops, PUT => '/admin/identities/phone/%2B8613800000001',
             qq({"customer":"$customer"}));
is($r->{status}, 200, 'ops links an identity (admin.identities.write)')
    or diag($r->{body});

# an agent reads customers and identities, the values masked by the
# agent role's scopes; the operator sees them whole
$r = call($agent, GET => '/admin/identities/phone/%2B8613800000001');
is($r->{status}, 200, 'an agent reads an identity (admin.identities.read)');
like($r->{body}, qr/"value":"\*{10}0001"/, '...its value masked but the last 4');
unlike($r->{body}, qr/8613800000001/, '...never whole');
$r = call($agent, GET => "/admin/customers/$customer");
is($r->{status}, 200, 'an agent reads a customer (admin.customers.read)');
like($r->{body}, qr/"value":"\*{10}0001"/, '...the identities masked there too')
    or diag($r->{body});
$r = call($ops, GET => "/admin/customers/$customer");
like($r->{body}, qr/"value":"\+8613800000001"/, 'an operator sees the value whole');

# ...but may not change them, nor read the policy
for my $case ([ PUT => '/admin/identities/phone/%2B8613800000002',
                qq({"customer":"$customer"}) ],
              [ DELETE => '/admin/identities/phone/%2B8613800000001' ],
              [ GET => '/admin/policy' ],
              [ GET => '/admin/stats' ]) {
    $r = call($agent, @$case);
    is($r->{status}, 403, "an agent may not $case->[0] $case->[1]");
    like($r->{body}, qr/"permission_denied"/, '...permission_denied');
}

# the resource word comes from the path, never more than a word of it
$r = call($ops, GET => '/admin/');
is($r->{status}, 404, 'ops may ask for an unknown route (admin.other.read)');
$r = call($agent, GET => '/admin/Customers/x');
is($r->{status}, 403, 'an agent: a path that is no action word is "other"');

# the admin role alone no longer opens it here, but still does there
$r = call($admin, GET => "/admin/customers/$customer");
is($r->{status}, 403, 'the admin role without a rule is denied under the policy');
$r = call($admin, GET => "/classic/customers/$customer");
is($r->{status}, 200, 'the location without omni_policy keeps the role check');
$r = call($agent, GET => "/classic/customers/$customer");
is($r->{status}, 403, '...where an agent is refused');

# denials are audited with the action and the rule
my $audit = $t->read_file('audit.log');
like($audit, qr/"subject":"agent-Ann".*"action":"admin\.identities\.write","decision":"deny"/,
     'the denied write is in the policy audit log');
unlike($audit, qr/8613800000/, '...with no identity value');

$t->check_error_log;

done_testing();
