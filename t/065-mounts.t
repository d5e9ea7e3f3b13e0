# Channels as integrators deploy them: every bundled plugin under a second
# mount point (the location's own path, an exact location, a regular
# expression location with the prefix setting), the single-endpoint style
# of the miniprogram and app plugins, and the web plugin's CORS allowlist.

use strict;
use warnings;

use lib 't/lib';
use JSON::PP;
use Test::More;
use Digest::SHA qw(hmac_sha1);
use MIME::Base64 qw(encode_base64);
use Omni::Test;
use Omni::Jwt qw(slurp);

my $t = Omni::Test->new;
my $repo = Omni::Test::repo_root();

sub fixture {
    my ($name) = @_;
    return decode_json(slurp("$repo/t/fixtures/$name.json"))->{request};
}

my $ivr = fixture('ivr/incoming_call');
my $sms = fixture('sms/inbound_text');
my $oa = fixture('wechat_oa/text_message');
utf8::encode($oa->{body});

my $http = <<"END";
omni_plugins $repo/plugins;
omni_lua_library $repo/lua;

server {
    listen 127.0.0.1:%%PORT1%%;
    access_log off;

    location / {
        default_type application/json;
        return 200 '{"ok":true,"data":{"say":"action \$http_x_omni_action","text":"action \$http_x_omni_action","action":"\$http_x_omni_action"}}';
    }
}

server {
    listen 127.0.0.1:%%PORT%%;
    server_name localhost;

    proxy_method POST;
    proxy_set_header Content-Type application/json;
    proxy_set_header X-Omni-Action \$omni_action;
    proxy_set_body \$omni_contract;

    location /shop/api/ {
        omni_channel web;
        omni_auth off;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location ~ ^/re/web/ {
        omni_channel web;
        omni_auth off;
        omni_plugin_set prefix /re/web;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /mp/ {
        omni_channel miniprogram;
        omni_auth off;
        omni_plugin_set action_field cmd;
        omni_plugin_set params_field data;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location = /api/app {
        omni_channel app;
        omni_auth off;
        omni_plugin_set action_field cmd;
        omni_plugin_set params_field data;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /mobile/ {
        omni_channel app;
        omni_auth off;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /hotline/ {
        omni_channel ivr;
        omni_auth plugin;
        omni_plugin_set auth_token $ivr->{settings}{auth_token};
        omni_plugin_set base_url $ivr->{settings}{base_url};
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /texts/ {
        omni_channel sms;
        omni_auth plugin;
        omni_plugin_set auth_token $sms->{settings}{auth_token};
        omni_plugin_set base_url $sms->{settings}{base_url};
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /wx/oa {
        omni_channel wechat_oa;
        omni_auth plugin;
        omni_plugin_set token $oa->{settings}{token};
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /cors/ {
        omni_channel web;
        omni_auth off;
        omni_plugin_set allowed_origins "https://app.example.com, https://*.example.org http://localhost:3000";
        omni_plugin_set allow_credentials on;
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /cors-bad/ {
        omni_channel web;
        omni_auth off;
        omni_plugin_set allowed_origins "https://app.example.com ftp://x";
        proxy_pass http://127.0.0.1:%%PORT1%%;
    }
}
END

$t->start($http);

sub call {
    my (%a) = @_;
    my $r = $t->request(
        method => $a{method} || ($a{body} ? 'POST' : 'GET'),
        path => $a{path},
        headers => $a{headers} || [],
        (defined $a{body} ? (body => $a{body}) : ()),
        no_subst => 1,
    );
    return $r;
}

sub json_call {
    my ($path, $body, @headers) = @_;
    my $r = call(path => $path, body => $body,
                 headers => [ [ 'content-type' => 'application/json' ], @headers ]);
    return ($r, eval { decode_json($r->{body}) } || {});
}

# web under a location of its own, and under a regex location + prefix
my $r = call(path => '/shop/api/orders/ORD-1');
is($r->{status}, 200, 'web under /shop/api/: served');
like($r->{body}, qr/"action":"order\.query"/, '...as order.query');
$r = call(path => '/re/web/profile');
like($r->{body}, qr/"action":"customer\.profile"/,
     'web under a regex location with the prefix setting');
$r = call(path => '/shop/api/web/orders');
is($r->{status}, 404, 'web under /shop/api/: the old path is not a route');

# miniprogram: path style and single endpoint under /mp/
my ($res, $j) = json_call('/mp/order/query', '{"order_no":"1"}');
is($j->{errcode}, 0, 'miniprogram under /mp/: path style');
is($j->{data}{action}, 'order.query', '...order.query');
($res, $j) = json_call('/mp/api', '{"cmd":"order.query","data":{"order_no":"1"},"openid":"oAbc"}');
is($res->{status}, 200, 'miniprogram single endpoint: 200');
is($j->{data}{action}, 'order.query', '...the action from cmd');
for my $bad ('{"data":{}}', '{"cmd":"Order.Query"}', '{"cmd":"order.query","data":[]}') {
    ($res, $j) = json_call('/mp/api', $bad);
    is($res->{status}, 200, "miniprogram $bad: 200");
    is($j->{errcode}, 40000, '...errcode 40000');
    like($j->{errmsg}, qr/^invalid_parameter: /, '...invalid_parameter');
}

# app: an exact location as the single endpoint, and JSON-RPC under /mobile/
($res, $j) = json_call('/api/app', '{"cmd":"cart.view","data":{"a":1},"id":3}');
is($j->{result}{action}, 'cart.view', 'app at = /api/app: cmd names the call');
is($j->{id}, 3, '...the id comes back');
($res, $j) = json_call('/api/app', '{"cmd":"x","id":4}');
is($j->{error}{code}, -32600, 'app: a bad cmd is -32600');
is($j->{error}{data}{code}, 'invalid_parameter', '...invalid_parameter');
($res, $j) = json_call('/mobile/rpc', '{"jsonrpc":"2.0","method":"order.query","id":1}');
is($j->{result}{action}, 'order.query', 'app under /mobile/: JSON-RPC');

# ivr under /hotline/ and sms under /texts/: Twilio signs the URL it called
sub twilio_signature {
    my ($url, $body, $token) = @_;
    my %form;
    for (split /&/, $body) {
        my ($k, $v) = map { (my $s = $_) =~ tr/+/ /; $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge; $s }
                      split /=/, $_, 2;
        $form{$k} = $v // '';
    }
    my $signed = $url . join '', map { $_ . $form{$_} } sort keys %form;
    return encode_base64(hmac_sha1($signed, $token), '');
}

sub twilio_call {
    my ($path, $fx, $sig) = @_;
    return call(path => $path, body => $fx->{body}, headers => [
        [ 'content-type' => 'application/x-www-form-urlencoded' ],
        [ 'x-twilio-signature' => $sig // twilio_signature(
              "$fx->{settings}{base_url}$path", $fx->{body}, $fx->{settings}{auth_token}) ] ]);
}

$r = twilio_call('/hotline/voice', $ivr);
like($r->{body}, qr/<Say[^>]*>action ivr\.menu</, 'ivr under /hotline/: signed and served');
$r = twilio_call('/hotline/voice', $ivr, $ivr->{headers}{'x-twilio-signature'});
like($r->{body}, qr/<Hangup\/>/, '...the signature of another URL is refused');

$r = twilio_call('/texts/message', $sms);
is($r->{status}, 200, 'sms under /texts/: 200');
like($r->{body}, qr{<Response><Message>action message\.text</Message></Response>},
     '...signed and served, a messaging TwiML reply');
$r = twilio_call('/texts/message', $sms, $sms->{headers}{'x-twilio-signature'});
is($r->{body}, '<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
   '...the signature of /sms/message is refused: no reply');
$r = twilio_call('/texts/sms/message', $sms);
is($r->{body}, '<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
   '...and its old path is no route');

# wechat_oa under /wx/oa
$r = call(path => "/wx/oa?$oa->{query}", body => $oa->{body},
          headers => [ [ 'content-type' => 'text/xml' ] ]);
like($r->{body}, qr/action message\.text/, 'wechat_oa under /wx/oa: served');

# CORS by allowlist
sub preflight {
    my ($path, $origin) = @_;
    return call(method => 'OPTIONS', path => $path, headers => [
        ($origin ? [ origin => $origin ] : ()),
        [ 'access-control-request-method' => 'POST' ] ]);
}

for my $origin ('https://app.example.com', 'https://shop.example.org',
                'https://a.b.example.org', 'http://localhost:3000',
                'https://APP.Example.com') {
    $r = preflight('/cors/orders', $origin);
    is($r->{status}, 204, "preflight from $origin: 204");
    is($r->{headers}{'access-control-allow-origin'}, $origin, '...allowed');
    is($r->{headers}{'access-control-allow-credentials'}, 'true', '...with credentials');
    $r = call(path => '/cors/orders/ORD-1', headers => [ [ origin => $origin ] ]);
    is($r->{headers}{'access-control-allow-origin'}, $origin, '...and on the answer');
    is($r->{headers}{vary}, 'Origin', '...Vary: Origin');
}

for my $origin ('https://evil.example', 'https://example.org', 'http://app.example.com',
                'https://app.example.com:8443', 'http://localhost:3001',
                'https://app.example.com.evil.net', 'https://evilexample.org') {
    $r = preflight('/cors/orders', $origin);
    is($r->{status}, 403, "preflight from $origin: 403");
    ok(!exists $r->{headers}{'access-control-allow-origin'}, '...no CORS header');
    ok(!exists $r->{headers}{'access-control-allow-methods'}, '...no allowed methods');
    like($r->{body}, qr/"code":"origin_not_allowed"/, '...origin_not_allowed');
    $r = call(path => '/cors/orders/ORD-1', headers => [ [ origin => $origin ] ]);
    is($r->{status}, 200, "a GET from $origin is served");
    ok(!exists $r->{headers}{'access-control-allow-origin'}, '...without CORS headers');
    ok(!exists $r->{headers}{'access-control-allow-credentials'}, '...nor credentials');
}

$r = preflight('/cors/orders', undef);
is($r->{status}, 204, 'OPTIONS without Origin: 204');
ok(!exists $r->{headers}{'access-control-allow-origin'}, '...no CORS header');
is($r->{headers}{allow}, 'GET, POST, PUT, OPTIONS', '...Allow');

$r = preflight('/shop/api/orders', 'https://anything.example');
is($r->{headers}{'access-control-allow-origin'}, 'https://anything.example',
   'no allowlist: any well-formed origin, as before');
ok(!exists $r->{headers}{'access-control-allow-credentials'}, '...never credentials');

$r = preflight('/cors-bad/orders', 'https://app.example.com');
is($r->{status}, 500, 'a malformed allowlist: 500');
like($r->{body}, qr/plugin_misconfigured/, '...plugin_misconfigured');
$r = call(path => '/cors-bad/orders/ORD-1', headers => [ [ origin => 'https://app.example.com' ] ]);
ok(!exists $r->{headers}{'access-control-allow-origin'}, '...and no CORS header on answers');

done_testing();
