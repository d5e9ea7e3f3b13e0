# The customer's own case queries answered by the gateway (docs/cases.md,
# "The customer's own queries"): a complaint opened on the web is listed
# and read from the mini-program, the app, the IVR and the WeChat official
# account, each rendered natively; another customer's case id is not
# found; internal notes never show; the policy engine decides case.list
# and case.get like any action; the service is never asked.

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

$t->write_file('policy.json', <<'END');
{"version": 1,
 "roles": {
   "anonymous": {"rules": [{"id": "public", "effect": "allow",
                            "actions": ["case.*", "order.*", "message.*", "ivr.*"]}]},
   "customer": {"rules": [{"id": "own", "effect": "allow",
                           "actions": ["case.*", "order.*", "customer.*"]}]},
   "blocked": {"rules": [{"id": "no-cases", "effect": "deny",
                          "actions": ["case.*"]}]}}}
END
my $policy = $t->prefix . '/policy.json';

# the service logs what it was asked, so a test can see it was not
my $http = <<"END";
omni_plugins $repo/plugins;
omni_lua_library $repo/lua;
omni_jwt_secret $k->{hs32};
omni_store $store sync=none;
omni_policy_file $policy;

server {
    listen 127.0.0.1:%%PORT1%%;
    access_log $t->{prefix}/service.log;

    location / {
        default_type application/json;
        return 200 '{"ok":true,"data":{"from":"service"}}';
    }
}

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;

    proxy_method POST;
    proxy_set_header Content-Type application/json;
    proxy_set_header Authorization "";
    proxy_set_body \$omni_contract;
    omni_cases on;

    location /web/ {
        omni_channel web;
        omni_customers create;
        omni_policy on;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /app/ {
        omni_channel app;
        omni_policy on;
        omni_customers resolve;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /miniprogram/ {
        omni_channel miniprogram;
        omni_policy on;
        omni_customers resolve;
        omni_auth off;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /ivr/ {
        omni_channel ivr;
        omni_policy on;
        omni_customers resolve;
        omni_auth off;
        omni_plugin_set language en-US;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /wechat_oa {
        omni_channel wechat_oa;
        omni_policy on;
        omni_customers resolve;
        omni_auth off;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /off/ {
        omni_channel web;
        omni_customers resolve;
        omni_cases off;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /admin/ {
        omni_gateway on;
        omni_admin;
    }
}
END

# an unauthenticated channel answers whoever claims an identity: said
my ($ok, $out) = $t->test_config($http);
ok($ok, 'nginx -t passes');
like($out, qr/\[warn\].*"omni_cases on" with "omni_auth off" answers a client's case queries for any identity it claims/,
     'nginx -t warns of case queries on an unauthenticated channel') or diag($out);

$t->start($http, workers => 2);

sub bearer { 'Bearer ' . mint(alg => 'HS256', key => $k->{hs32}, sub => $_[0],
                              roles => $_[1] || 'customer') }
my $admin = bearer('root', 'admin');

sub admin {
    my ($method, $path, $body) = @_;
    my $r = $t->request(method => $method, path => "/admin$path", no_subst => 1,
                        headers => [ [ Authorization => $admin ] ],
                        (defined $body ? (body => $json->encode($body)) : ()));
    return eval { $json->decode($r->{body}) } || {};
}

sub web {
    my ($sub, $path, %opt) = @_;
    return $t->request(path => $path,
                       headers => [ [ Authorization => bearer($sub, $opt{roles}) ] ]);
}

# alice on the web (her subject makes her customer), bob too
my $r = web('alice', '/web/profile');
is($r->{status}, 200, 'alice on the web');
web('bob', '/web/profile');
my $alice = admin(GET => '/identities/jwt_sub/alice')->{customer};
my $bob = admin(GET => '/identities/jwt_sub/bob')->{customer};
ok($alice && $bob && $alice ne $bob, 'two customers');

# her other channels' identities are hers
admin(PUT => '/identities/wechat_openid/o-alice', { customer => $alice });
admin(PUT => '/identities/phone/%2B14155550123', { customer => $alice });

my $c = admin(POST => '/cases', { customer => $alice, channel => 'web',
                                  subject => 'Parcel never came',
                                  category => 'complaint' });
my $id = $c->{id};
like($id, qr/^\d{10}$/, 'a complaint opened on the web');
admin(POST => "/cases/$id/notes", { text => 'INTERNAL-ONLY courier fraud?',
                                    kind => 'internal' });
admin(POST => "/cases/$id/notes", { text => 'We asked the courier.' });
admin(POST => "/cases/$id/status", { status => 'pending' });
my $other = admin(POST => '/cases', { customer => $bob, subject => 'Bob bill',
                                      category => 'billing' })->{id};

my $svc = sub { $t->read_file('service.log') // '' };
my $asked = () = $svc->() =~ /\n/g;

# --- web: JSON

$r = web('alice', '/web/cases');
is($r->{status}, 200, 'web case.list: 200');
my $d = eval { $json->decode($r->{body}) } || {};
is_deeply([ map { [ $_->{id}, $_->{status} ] } @{ $d->{data}{cases} || [] } ],
          [ [ $id, 'pending' ] ], 'web case.list: her case, as JSON');

$r = web('alice', "/web/cases/$id");
$d = eval { $json->decode($r->{body}) } || {};
is($d->{data}{case}{subject}, 'Parcel never came', 'web case.get: the case');
is_deeply([ map { $_->{kind} } @{ $d->{data}{case}{events} || [] } ],
          [ qw(created note status) ],
          'web case.get: public events only');
unlike($r->{body}, qr/INTERNAL-ONLY|agent|root/,
       'web case.get: no internal note, no author');

$r = web('alice', "/web/cases/$other");
is($r->{status}, 404, "web: another customer's case is not found");
like($r->{body}, qr/"code":"case_not_found"/, '...case_not_found');
unlike($r->{body}, qr/Bob bill/, '...and nothing of it');

my $typo = $id;
substr($typo, 9, 1) = (substr($id, 9, 1) + 1) % 10;
$r = web('alice', "/web/cases/$typo");
is($r->{status}, 400, 'web: a mistyped case id is 400');
like($r->{body}, qr/"code":"case_id_invalid"/, '...case_id_invalid');

$r = web('mallory', '/web/cases', roles => 'blocked');
is($r->{status}, 403, 'the policy denies case.list to a role');
like($r->{body}, qr/permission_denied/, '...rendered as any denial');

# --- app: JSON-RPC

$r = $t->request(method => 'POST', path => '/app/rpc',
                 headers => [ [ Authorization => bearer('alice') ],
                              [ 'Content-Type' => 'application/json' ],
                              [ 'X-Device-Id' => 'DEV-A' ] ],
                 body => qq({"jsonrpc":"2.0","method":"case.get","params":{"case_id":"$id"},"id":7}));
$d = eval { $json->decode($r->{body}) } || {};
is($d->{result}{case}{id}, $id, 'app case.get: a JSON-RPC result');
is($d->{id}, 7, '...with the call id');

# --- mini-program: errcode JSON

$r = $t->request(method => 'POST', path => '/miniprogram/case/get',
                 headers => [ [ 'Content-Type' => 'application/json' ] ],
                 body => qq({"data":{"case_id":"$id"},"openid":"o-alice"}));
$d = eval { $json->decode($r->{body}) } || {};
is($d->{errcode}, 0, 'mini-program case.get: errcode 0');
is($d->{data}{case}{status}, 'pending', '...the case in data');

$r = $t->request(method => 'POST', path => '/miniprogram/case/get',
                 headers => [ [ 'Content-Type' => 'application/json' ] ],
                 body => qq({"data":{"case_id":"$other"},"openid":"o-alice"}));
$d = eval { $json->decode($r->{body}) } || {};
is($d->{errcode}, 40004, "mini-program: another customer's case: errcode 40004");
like($d->{errmsg} // '', qr/^case_not_found/, '...case_not_found');

# --- IVR: spoken

sub ivr {
    my ($digits) = @_;
    return $t->request(method => 'POST', path => '/ivr/voice',
                       headers => [ [ 'Content-Type' => 'application/x-www-form-urlencoded' ] ],
                       body => 'CallSid=CA5e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b'
                               . '&AccountSid=AC3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c'
                               . '&From=%2B14155550123&To=%2B18005550199'
                               . "&CallStatus=in-progress&Digits=$digits");
}

(my $spoken = $id) =~ s/(\d)(?=\d)/$1 /g;
$r = ivr('3');
is($r->{status}, 200, 'IVR case.list: 200');
like($r->{body}, qr{<Gather[^>]*numDigits="10"[^>]*><Say[^>]*>You have one case\. Case \Q$spoken\E \(complaint\) is waiting for your answer\.},
     'IVR case.list: spoken, digit by digit, then a gather of 10 digits')
    or diag($r->{body});
$r = ivr($id);
like($r->{body}, qr{<Say[^>]*>Case \Q$spoken\E \(complaint\) is waiting for your answer\. Latest update: We asked the courier\.</Say>},
     'IVR case.get: the status and the latest public note, spoken')
    or diag($r->{body});
$r = ivr($other);
like($r->{body}, qr{<Hangup/>}, "IVR: another customer's case: the apology");
unlike($r->{body}, qr/Bob/, '...and nothing of it');

# --- WeChat official account: a text message

sub oa {
    my ($text) = @_;
    return $t->request(method => 'POST', path => '/wechat_oa',
                       headers => [ [ 'Content-Type' => 'text/xml' ] ],
                       body => '<xml><ToUserName><![CDATA[gh_3a9f1c2b7d4e]]></ToUserName>'
                               . '<FromUserName><![CDATA[o-alice]]></FromUserName>'
                               . '<CreateTime>1795539998</CreateTime>'
                               . '<MsgType><![CDATA[text]]></MsgType>'
                               . "<Content><![CDATA[$text]]></Content>"
                               . '<MsgId>24602184711394612</MsgId></xml>');
}

$r = oa("case $id");
is($r->{status}, 200, 'WeChat OA case.get: 200');
like($r->{body}, qr{<MsgType><!\[CDATA\[text\]\]></MsgType><Content><!\[CDATA\[Case $id \(complaint\) is waiting for your answer\. Latest update: We asked the courier\.\]\]></Content>},
     'WeChat OA case.get: a text reply naming the case id') or diag($r->{body});
$r = oa('cases');
like($r->{body}, qr{You have one case\. Case $id}, 'WeChat OA case.list: a text reply');

# --- the service was never asked, and without omni_cases it is

my $now = () = $svc->() =~ /\n/g;
is($now, $asked, 'the service was asked nothing for any of it');
$r = web('alice', '/off/cases');
like($r->{body}, qr/"from":"service"/, 'omni_cases off: the service answers');

# --- touches: reading the case from other channels

$c = admin(GET => "/cases/$id");
ok((grep { $_->{channel} eq 'ivr' } @{ $c->{touches} }), 'the IVR read touched the case');
ok((grep { $_->{channel} eq 'wechat_oa' } @{ $c->{touches} }),
   'the official account read touched it');

$t->stop;

done_testing;
