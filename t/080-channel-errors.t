# Gateway and service errors rendered in each channel's native format,
# authentication modes per location, and the reply buffer bound.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use Omni::Test;
use Omni::Jwt qw(keygen mint);

my $t = Omni::Test->new;
my $k = keygen($t->prefix . '/keys');

$t->set_var(HTTP => <<"END");
omni_plugins %%REPO%%/plugins;
omni_lua_library %%REPO%%/lua;
omni_jwt_secret $k->{hs32};

server {
    listen 127.0.0.1:%%PORT1%%;
    location / {
        default_type application/json;
        if (\$http_x_test_reply = "fail") {
            return 200 '{"ok":false,"error":{"code":"order_not_found","message":"no such order"}}';
        }
        if (\$http_x_test_reply = "junk") {
            return 200 'this is not json';
        }
        if (\$http_x_test_reply = "big") {
            return 200 '{"ok":true,"data":{"pad":"\$http_x_pad"}}';
        }
        return 200 '{"ok":true,"data":{"action":"\$http_x_omni_action","text":"hello","say":"hello"}}';
    }
}
END

$t->set_var(PROXY => 'proxy_set_header X-Omni-Action $omni_action; '
    . 'proxy_set_body $omni_contract; '
    . 'proxy_pass http://127.0.0.1:%%PORT1%%;');

$t->set_var(TOKEN => mint(alg => 'HS256', key => $k->{hs32}, sub => 'dora',
                          roles => 'customer'));
$t->set_var(EXPIRED => mint(alg => 'HS256', key => $k->{hs32},
                            sub => 'dora', exp => '-100'));
$t->set_var(PAD => 'x' x 3000);

$t->block_defaults(http_config => <<'END');
%%HTTP%%
END

$t->block_defaults(config => <<'END');
location /web/ { omni_channel web; %%PROXY%% }
END

run_blocks($t);

done_testing();

__DATA__

=== TEST 1: web without a token: 401 in the web format, with the challenge
--- request
GET /web/orders/ORD-1
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
Content-Type: application/json; charset=utf-8
--- response_body_like: ^\{"error":\{"code":"token_missing","message":"no token"\},"request_id":"[0-9a-f]{32}"\}$

=== TEST 2: mini-program with an expired token: HTTP 200 with errcode
--- config
location /miniprogram/ { omni_channel miniprogram; %%PROXY%% }
--- request
POST /miniprogram/order/query
--- more_headers
Authorization: Bearer %%EXPIRED%%
Content-Type: application/json
--- request_body
{"data":{"order_id":"1"}}
--- error_code: 200
--- response_headers
!WWW-Authenticate
--- response_body_like: "errcode":40001,"errmsg":"token_expired: token expired"

=== TEST 3: app with an expired token: a JSON-RPC error
--- config
location /app/ { omni_channel app; %%PROXY%% }
--- request
POST /app/rpc
--- more_headers
Authorization: Bearer %%EXPIRED%%
Content-Type: application/json
--- request_body
{"jsonrpc":"2.0","method":"order.query","params":{},"id":3}
--- error_code: 200
--- response_body_like: "code":-32001

=== TEST 4: a service error in the web format
--- request
GET /web/orders/ORD-1
--- more_headers
Authorization: Bearer %%TOKEN%%
X-Test-Reply: fail
--- error_code: 404
--- response_body_like: ^\{"error":\{"code":"order_not_found","message":"no such order"\}

=== TEST 5: a service that does not speak the unified reply
--- request
GET /web/orders/ORD-1
--- more_headers
Authorization: Bearer %%TOKEN%%
X-Test-Reply: junk
--- error_code: 502
--- response_body_like: "code":"upstream_reply_invalid"

=== TEST 6: a reply larger than omni_reply_buffer
--- config
location /web/ { omni_channel web; omni_reply_buffer 1k; %%PROXY%% }
--- request
GET /web/orders/ORD-1
--- more_headers
Authorization: Bearer %%TOKEN%%
X-Test-Reply: big
X-Pad: %%PAD%%
--- error_code: 502
--- response_body_like: "code":"upstream_reply_too_large"
--- error_log
the reply is larger than omni_reply_buffer (1024 bytes)

=== TEST 6a: a reply that comes in several buffers is rendered whole
--- config
location /web/ {
    omni_channel web;
    proxy_buffer_size 1k;
    proxy_buffers 8 1k;
    %%PROXY%%
}
--- request
GET /web/orders/ORD-1
--- more_headers
Authorization: Bearer %%TOKEN%%
X-Test-Reply: big
X-Pad: %%PAD%%
--- error_code: 200
--- response_body_like: ^\{"data":\{"pad":"x{3000}"\}\}$

=== TEST 6b: ...and unbuffered, piece by piece
--- config
location /web/ {
    omni_channel web;
    proxy_buffering off;
    proxy_buffer_size 1k;
    %%PROXY%%
}
--- request
GET /web/orders/ORD-1
--- more_headers
Authorization: Bearer %%TOKEN%%
X-Test-Reply: big
X-Pad: %%PAD%%
--- error_code: 200
--- response_body_like: ^\{"data":\{"pad":"x{3000}"\}\}$

=== TEST 6c: several buffers that add up to more than omni_reply_buffer
--- config
location /web/ {
    omni_channel web;
    omni_reply_buffer 2k;
    proxy_buffer_size 1k;
    proxy_buffers 8 1k;
    %%PROXY%%
}
--- request
GET /web/orders/ORD-1
--- more_headers
Authorization: Bearer %%TOKEN%%
X-Test-Reply: big
X-Pad: %%PAD%%
--- error_code: 502
--- response_body_like: "code":"upstream_reply_too_large"
--- error_log
the reply is larger than omni_reply_buffer (2048 bytes)

=== TEST 7: a body larger than client_body_buffer_size
--- config
client_body_buffer_size 1k;
location /web/ { omni_channel web; %%PROXY%% }
--- request
POST /web/orders
--- more_headers
Authorization: Bearer %%TOKEN%%
Content-Type: application/json
--- request_body
{"note":"%%PAD%%"}
--- error_code: 413
--- response_body_like: "code":"body_too_large"

=== TEST 8: a malformed JSON body
--- request
POST /web/orders
--- more_headers
Authorization: Bearer %%TOKEN%%
Content-Type: application/json
--- request_body
{"items": [1, 2,
--- error_code: 400
--- response_body_like: "code":"body_malformed"

=== TEST 9: the CORS preflight is answered without a token
--- request
OPTIONS /web/orders
--- more_headers
Origin: https://shop.example.com
Access-Control-Request-Method: POST
--- error_code: 204
--- response_headers
Access-Control-Allow-Origin: https://shop.example.com

=== TEST 10: omni_auth off: anonymous callers reach the service
--- config
location /web/ { omni_channel web; omni_auth off; %%PROXY%% }
--- request
GET /web/orders/ORD-1
--- error_code: 200
--- response_body_like: "action":"order.query"

=== TEST 11: omni_auth jwt plugin: a token alone is not enough for ivr
--- config
location /ivr/ { omni_channel ivr; omni_auth jwt plugin;
                 omni_plugin_set auth_token 0123456789abcdef;
                 omni_plugin_set base_url https://gw.example.com; %%PROXY%% }
--- request
POST /ivr/voice
--- more_headers
Authorization: Bearer %%TOKEN%%
Content-Type: application/x-www-form-urlencoded
X-Twilio-Signature: bm90IGEgc2lnbmF0dXJl
--- request_body
CallSid=CA123&AccountSid=AC123&From=%2B14155550123&To=%2B18005550199
--- error_code: 200
--- response_body_like: <Hangup/>
--- error_log
channel "ivr" authenticate refused the request: signature_invalid

=== TEST 12: omni_auth jwt plugin: no token is refused before the plugin
--- config
location /ivr/ { omni_channel ivr; omni_auth jwt plugin;
                 omni_plugin_set auth_token 0123456789abcdef;
                 omni_plugin_set base_url https://gw.example.com; %%PROXY%% }
--- request
POST /ivr/voice
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request_body
CallSid=CA123&AccountSid=AC123
--- error_code: 200
--- response_body_like: <Hangup/>
--- error_log
token rejected: token_missing
--- no_error_log
authenticate refused

=== TEST 13: $omni_contract is what proxy_set_body sends
--- http_config
%%HTTP%%
log_format contract escape=none '$omni_action $omni_contract';
--- config
access_log %%PREFIX%%/contract.log contract;
location /web/ { omni_channel web; %%PROXY%% }
--- request
GET /web/orders/ORD-77
--- more_headers
Authorization: Bearer %%TOKEN%%
--- error_code: 200
--- response_body_like: "action":"order.query"
