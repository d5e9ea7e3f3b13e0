# Plugin values the gateway must not take at face value: an identity with
# a NUL in it must not resolve as the part before the NUL, values the map
# cannot hold are skipped, not stored cut, and a tier with a NUL meets no
# policy condition.

use strict;
use warnings;

use lib 't/lib';
use JSON::PP;
use Test::More;
use Omni::Test;

my $t = Omni::Test->new;
my $store = $t->prefix . '/store';
my $omnictl = Omni::Test::bin('omnictl');

mkdir $store or die "$store: $!";
chmod 0777, $store;

$t->write_file('policy.json', <<'END');
{"version": 1, "roles": {"anonymous": {"rules": [
  {"id": "gold-only", "effect": "allow", "actions": ["identity.echo"],
   "when": {"tier": ["gold"]}}]}}}
END

$t->start(<<'END', workers => 1);
omni_plugins %%REPO%%/t/plugins/identities;
omni_policy_file %%PREFIX%%/policy.json;
omni_lua_library %%REPO%%/lua;
omni_store %%PREFIX%%/store sync=none;

server {
    listen 127.0.0.1:%%PORT1%%;
    access_log off;
    location / { return 200 '{"ok":true,"data":{}}'; }
}

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;
    add_header X-Customer $omni_customer always;

    location /resolve/ {
        omni_channel claims;
        omni_auth off;
        omni_customers resolve;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /tiered/ {
        omni_channel claims;
        omni_auth off;
        omni_policy on;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /create/ {
        omni_channel claims;
        omni_auth off;
        omni_customers create;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }
}
END

system("$omnictl -d $store link phone +15550100 victim >/dev/null") == 0
    or BAIL_OUT('omnictl link failed');

sub customer_of {
    my ($loc, $query) = @_;
    my $r = $t->request(path => "/$loc/x?$query");
    is($r->{status}, 200, "$loc $query: passes");
    return $r->{headers}{'x-customer'};
}

is(customer_of('resolve', 'type=phone&value=%2B15550100'), 'victim',
   'the linked phone resolves');
is(customer_of('resolve', 'type=phone&value=%2B15550100%00x'), undef,
   'a value with a NUL does not resolve as what precedes it');
is(customer_of('resolve', 'type=phone&value=%2B15550100%20x'), undef,
   'a value with a space resolves to nobody');

my $c = customer_of('create', 'type=phone&value=%2B15550100%00x');
isnt($c // '', 'victim', 'create: a value with a NUL does not join the victim');
is($c, undef, '...it is skipped, so no customer is made of it');

my $out = `$omnictl -d $store identities victim`;
my $ids = decode_json($out)->{identities};
is(scalar @$ids, 1, 'the victim still has exactly one identity');

# the same for the tier a policy condition reads
is($t->request(path => '/tiered/x?tier=gold')->{status}, 200,
   'tier gold meets the condition');
is($t->request(path => '/tiered/x?tier=gold%00x')->{status}, 403,
   'tier "gold\\0x" does not');

done_testing();
