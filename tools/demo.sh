#!/bin/bash
# Starts the demo gateway in the foreground: generates demo keys and the
# store's keyring (never committed) under build/demo, renders
# conf/demo.conf, mints a demo token and prints curl commands that work
# and one that fails.
#
# usage: tools/demo.sh [host] [port]; OMNI_UPSTREAM_PORT overrides the
# demo upstream's port (default: port + 1).

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
host=${1:-127.0.0.1}
port=${2:-8080}
upstream_port=${OMNI_UPSTREAM_PORT:-$((port + 1))}
prefix=$root/build/demo
module=$root/build/nginx/objs/ngx_http_omni_module.so
mint=$root/build/bin/omni-jwt
omnictl=$root/build/bin/omnictl
nginx=${OMNI_NGINX:-/usr/sbin/nginx}

mkdir -p "$prefix/keys" "$prefix/tmp" "$prefix/store"
chmod 700 "$prefix/keys"

# the workers own the store: started as root without a "user" directive
# they run as nobody, the stock binary's default
if [ "$(id -u)" = 0 ]; then
    chown nobody "$prefix/store"
fi

if [ ! -f "$prefix/keys/demo-rs256.pem" ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
        -out "$prefix/keys/demo-rs256.pem" 2>/dev/null
    openssl pkey -in "$prefix/keys/demo-rs256.pem" -pubout \
        -out "$prefix/keys/demo-rs256.pub"
fi

[ -f "$prefix/keys/demo-hs256.key" ] \
    || head -c 32 /dev/urandom > "$prefix/keys/demo-hs256.key"

for name in ivr-token wechat-token; do
    [ -f "$prefix/keys/$name" ] || head -c 16 /dev/urandom | od -An -tx1 \
        | tr -d ' \n' > "$prefix/keys/$name"
done

# the store's keyring: 0600, and a store made with it opens only with it
[ -f "$prefix/keys/keyring.json" ] \
    || "$omnictl" keys init "$prefix/keys/keyring.json" > /dev/null

# EncodingAESKeys: 43 characters of base64, 32 bytes
for name in wechat-aes-key wecom-aes-key; do
    [ -f "$prefix/keys/$name" ] || head -c 32 /dev/urandom | base64 \
        | head -c 43 > "$prefix/keys/$name"
done

ivr_token=$(cat "$prefix/keys/ivr-token")
wechat_token=$(cat "$prefix/keys/wechat-token")
wechat_aes_key=$(cat "$prefix/keys/wechat-aes-key")
wecom_aes_key=$(cat "$prefix/keys/wecom-aes-key")

sed -e "s|@MODULE@|$module|g" -e "s|@PREFIX@|$prefix|g" \
    -e "s|@ROOT@|$root|g" -e "s|@IVR_TOKEN@|$ivr_token|g" \
    -e "s|@WECHAT_TOKEN@|$wechat_token|g" \
    -e "s|@WECHAT_AES_KEY@|$wechat_aes_key|g" \
    -e "s|@WECOM_AES_KEY@|$wecom_aes_key|g" \
    -e "s|@HOST@|$host|g" -e "s|@PORT@|$port|g" \
    -e "s|@UPSTREAM_PORT@|$upstream_port|g" \
    "$root/conf/demo.conf" > "$prefix/nginx.conf"

"$nginx" -t -q -p "$prefix" -c "$prefix/nginx.conf"

token=$("$mint" mint --alg RS256 --key "$prefix/keys/demo-rs256.pem" \
    --kid demo-rs --iss https://demo.omni.example --aud omni-demo \
    --sub customer-42 --ttl 3600 \
    --claim-json 'realm_access={"roles":["customer","vip"]}')
admin=$("$mint" mint --alg RS256 --key "$prefix/keys/demo-rs256.pem" \
    --kid demo-rs --iss https://demo.omni.example --aud omni-demo \
    --sub secops-1 --ttl 3600 \
    --claim-json 'realm_access={"roles":["admin"]}')
expired=$("$mint" mint --alg RS256 --key "$prefix/keys/demo-rs256.pem" \
    --kid demo-rs --iss https://demo.omni.example --aud omni-demo \
    --sub customer-42 --exp 1700000000 --iat 1699990000)

url="http://$host:$port"

# WeChat's URL verification: sha1 of the sorted token, timestamp, nonce
ts=$(date +%s)
nonce=$RANDOM$RANDOM
wx_sig=$(printf '%s\n' "$wechat_token" "$ts" "$nonce" | LC_ALL=C sort \
         | tr -d '\n' | sha1sum | cut -d' ' -f1)

# WeChat's encrypted mode (docs/channels.md): 16 random bytes, the length,
# the message, the receiver id, padded to 32 bytes, AES-256-CBC, base64;
# msg_signature: sha1 of the sorted token, timestamp, nonce and that text
wx_encrypt() {      # encoding_aes_key receiver message
    local key
    key=$(printf '%s=' "$1" | base64 -d | od -An -tx1 | tr -d ' \n')
    perl -e 'my ($m, $r) = @ARGV;
             my $b = pack("a16 N", join("", map { chr int rand 256 } 1 .. 16),
                          length $m) . $m . $r;
             my $n = 32 - length($b) % 32;
             print $b, chr($n) x $n' "$3" "$2" \
        | openssl enc -aes-256-cbc -nopad -K "$key" -iv "${key:0:32}" \
        | base64 -w0
}

wx_sign() {         # token timestamp nonce text
    printf '%s\n' "$@" | LC_ALL=C sort | tr -d '\n' | sha1sum | cut -d' ' -f1
}

oa_msg="<xml><ToUserName><![CDATA[gh_demo]]></ToUserName><FromUserName><![CDATA[oDemoOpenId0123456789]]></FromUserName><CreateTime>$ts</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[where is my order?]]></Content><MsgId>1000000000000001</MsgId></xml>"
oa_enc=$(wx_encrypt "$wechat_aes_key" wxd0e0m0o0a0p0p0i0 "$oa_msg")
oa_sig=$(wx_sign "$wechat_token" "$ts" "$nonce" "$oa_enc")
wecom_msg="<xml><ToUserName><![CDATA[wwd0e0m0o0c0o0r0p0]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>$ts</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[expense status?]]></Content><MsgId>2000000000000001</MsgId><AgentID>1000002</AgentID></xml>"
wecom_enc=$(wx_encrypt "$wecom_aes_key" wwd0e0m0o0c0o0r0p0 "$wecom_msg")
wecom_sig=$(wx_sign "$wechat_token" "$ts" "$nonce" "$wecom_enc")

# an inbound text, signed as Twilio signs: HMAC-SHA1 of the URL and the
# sorted parameters, base64
sms_sid=SM$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
sms_account=AC0123456789abcdef0123456789abcdef
sms_body="From=%2B14155550123&To=%2B18005550199&Body=where+is+my+order&MessageSid=$sms_sid&AccountSid=$sms_account"
sms_sig=$(printf '%s' "$url/sms/messageAccountSid${sms_account}Bodywhere is my orderFrom+14155550123MessageSid${sms_sid}To+18005550199" \
          | openssl dgst -sha1 -hmac "$ivr_token" -binary | base64)

cat <<END

omni gateway demo on $url (demo upstream on 127.0.0.1:$upstream_port)
logs: $prefix/error.log, $prefix/access.log; keys: $prefix/keys

A valid demo token (RS256, kid demo-rs, 24 h):

  curl -i $url/api/hello -H 'Authorization: Bearer $token'

No token, and an expired one (both 401 with a JSON error):

  curl -i $url/api/hello
  curl -i $url/api/hello -H 'Authorization: Bearer $expired'

Channels: the same token through the web and mini-program plugins (the
service answers with the contract it received), and a mini-program call
without a token (HTTP 200 with errcode, as mini-programs expect):

  curl -i $url/web/orders/ORD-42 -H 'Authorization: Bearer $token'
  curl -i $url/miniprogram/order/query -H 'Authorization: Bearer $token' \\
       -H 'Content-Type: application/json' -H 'X-WX-Openid: o6_bmjrPTlm6_2sgVt7hMZOPfL2M' \\
       -d '{"data":{"order_id":"ORD-42"}}'
  curl -i $url/miniprogram/order/query -d '{}'

The policy (conf/policy.json) lets a customer query orders but not refund
them: 403 permission_denied, rendered by the web plugin, and a line in
$prefix/audit.log:

  curl -i -X POST $url/web/orders/ORD-42/refund -H 'Authorization: Bearer $token' \
       -H 'Content-Type: application/json' -d '{}'

One customer across channels: after the web call above, the app resumes
the same session (see "session" in the contract it shows), and the admin
API tells who customer-42 is and what they did:

  curl -i $url/app/rpc -H 'Authorization: Bearer $token' \
       -H 'Content-Type: application/json' -H 'X-Device-Id: demo-device-1' \
       -d '{"jsonrpc":"2.0","method":"order.query","params":{"order_id":"ORD-42"},"id":1}'
  curl -s $url/admin/identities/jwt_sub/customer-42 -H 'Authorization: Bearer $admin'
  curl -s $url/admin/stats -H 'Authorization: Bearer $admin'

  (then /admin/customers/<id>/journey and /admin/customers/<id>/sessions,
  or the same with
  $omnictl -d $prefix/store --keyring $prefix/keys/keyring.json)

The agent console ($url/console/, docs/console.md): sign in with the
admin token above (an hour long; mint another with the same command as in
tools/demo.sh) and find the customer by the identity jwt_sub customer-42:
the demo has made a request of theirs on the web, the app and the
mini-program, so the console shows their identities, their session and one
journey across the three channels, and one open case (docs/cases.md),
which the customer reads on any channel:

  curl -s $url/web/cases -H 'Authorization: Bearer $token'

  $admin

Mounted elsewhere: the mini-program's single endpoint under /mp/ (the
action from "cmd", params from "data"), and the web plugin under /shop/
answering a CORS preflight from an allowed origin (and 403 for another):

  curl -i $url/mp/api -H 'Authorization: Bearer $token' \
       -H 'Content-Type: application/json' \
       -d '{"cmd":"order.query","data":{"order_id":"ORD-42"},"openid":"o6_bmjrPTlm6_2sgVt7hMZOPfL2M"}'
  curl -i -X OPTIONS $url/shop/orders -H 'Origin: https://shop.example.com' \
       -H 'Access-Control-Request-Method: POST'
  curl -i -X OPTIONS $url/shop/orders -H 'Origin: https://evil.example' \
       -H 'Access-Control-Request-Method: POST'

WeChat official-account URL verification (answers the echostr):

  curl -i '$url/wechat_oa?signature=$wx_sig&timestamp=$ts&nonce=$nonce&echostr=hello-wechat'

The official account in safe mode and WeCom: an encrypted message each
(valid for an hour, the demo's replay window); the answer is encrypted
too (keys in $prefix/keys):

  curl -i '$url/wechat_oa_safe?timestamp=$ts&nonce=$nonce&encrypt_type=aes&msg_signature=$oa_sig' \
       -H 'Content-Type: text/xml' \
       -d '<xml><ToUserName><![CDATA[gh_demo]]></ToUserName><Encrypt><![CDATA[$oa_enc]]></Encrypt></xml>'
  curl -i '$url/wecom/callback?msg_signature=$wecom_sig&timestamp=$ts&nonce=$nonce' \
       -H 'Content-Type: text/xml' \
       -d '<xml><ToUserName><![CDATA[wwd0e0m0o0c0o0r0p0]]></ToUserName><Encrypt><![CDATA[$wecom_enc]]></Encrypt></xml>'

An inbound SMS, Twilio-style (the reply is messaging TwiML):

  curl -i $url/sms/message -H 'X-Twilio-Signature: $sms_sig' \
       -d '$sms_body'

Mint more with: $mint mint --help
Stop with Ctrl-C.

END

# the console's demo data: customer-42 on three channels, once nginx
# answers (this subshell outlives the exec below)
(
    for _ in $(seq 50); do
        curl -s -o /dev/null "$url/" && break
        sleep 0.1
    done
    curl -s -o /dev/null "$url/web/orders/ORD-42" -H "Authorization: Bearer $token"
    curl -s -o /dev/null "$url/app/rpc" -H "Authorization: Bearer $token" \
         -H 'Content-Type: application/json' -H 'X-Device-Id: demo-device-1' \
         -d '{"jsonrpc":"2.0","method":"order.query","params":{"order_id":"ORD-42"},"id":1}'
    curl -s -o /dev/null "$url/miniprogram/order/query" \
         -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
         -H 'X-WX-Openid: o6_bmjrPTlm6_2sgVt7hMZOPfL2M' \
         -d '{"data":{"order_id":"ORD-42"}}'
    # and one open case of theirs (docs/cases.md)
    customer=$(curl -s "$url/admin/identities/jwt_sub/customer-42" \
                    -H "Authorization: Bearer $admin" \
               | sed -n 's/.*"customer":"\([A-Za-z0-9_-]*\)".*/\1/p')
    if [ -n "$customer" ]; then
        curl -s -o /dev/null "$url/admin/cases" \
             -H "Authorization: Bearer $admin" \
             -H 'Content-Type: application/json' \
             -d "{\"customer\":\"$customer\",\"subject\":\"Order ORD-42 arrived damaged\",\"category\":\"complaint\",\"priority\":\"high\",\"channel\":\"web\"}"
    fi
) &

exec "$nginx" -p "$prefix" -c "$prefix/nginx.conf" -g 'daemon off;'
