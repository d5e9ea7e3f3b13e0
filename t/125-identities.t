# Plugin values the gateway must not take at face value: a NUL in the
# request is refused at the door, one a plugin makes is
# plugin_contract_invalid before the store or the policy see it (as C
# strings, "victim\0x" would be "victim"), and values the map cannot hold
# are skipped, not stored cut.

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

sub refused {
    my ($loc, $query, $status, $code, $name) = @_;
    my $r = $t->request(path => "/$loc/x?$query");
    is($r->{status}, $status, "$name: $status");
    is($r->{body}, "$code\n", "$name: $code");
    is($r->{headers}{'x-customer'}, undef, "$name: no customer");
}

is(customer_of('resolve', 'type=phone&value=%2B15550100'), 'victim',
   'the linked phone resolves');
is(customer_of('resolve', 'type=phone&value=%2B15550100%20x'), undef,
   'a value with a space resolves to nobody');

for my $loc ('resolve', 'create') {
    refused($loc, 'type=phone&value=%2B15550100%00x', 400, 'body_malformed',
            "$loc: a NUL in the query");
    refused($loc, 'type=phone&value=%2B15550100\\0x', 500,
            'plugin_contract_invalid', "$loc: a NUL the plugin made");
}

like($t->error_log, qr/identities\[1\]\.value holds a NUL character \(U\+0000\)/,
     'the plugin\'s NUL is named in the log');

my $out = `$omnictl -d $store identities victim`;
my $ids = decode_json($out)->{identities};
is(scalar @$ids, 1, 'the victim still has exactly one identity');
$out = `$omnictl -d $store stat`;
is(decode_json($out)->{entries}{identities}, 1, 'and no identity was made');

# the same for the tier a policy condition reads
is($t->request(path => '/tiered/x?tier=gold')->{status}, 200,
   'tier gold meets the condition');
refused('tiered', 'tier=gold%00x', 400, 'body_malformed',
        'tier "gold%00x"');
refused('tiered', 'tier=gold\\0x', 500, 'plugin_contract_invalid',
        'tier "gold\\0x" made by the plugin');

done_testing();
