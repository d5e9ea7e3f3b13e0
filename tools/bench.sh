#!/bin/bash
# make bench: the project's performance yardstick (docs/performance.md).
#
# One nginx, Debian's binary, loads our module and lua-nginx-module, which
# runs the OpenResty peer of the web channel (tools/bench/peer_web.lua).
# Its one worker is pinned to CPU 0 and wrk to CPU 1.  Every case is
# checked once with curl, then the cases run in OMNI_BENCH_RUNS rounds, each
# case once a round for OMNI_BENCH_SECONDS after a second of warm-up, so
# that a slow spell of the host falls on every case alike rather than on
# the few measured during it; the table shows the medians, with their
# ratios to plain proxy_pass and to the peer, measured in the same run.
# A second nginx without the metrics zone and the workflow runs the full
# pipeline in the same rounds: what metrics, rate limits and dispatch cost
# is the median of the rounds' differences.
# The web channel and the full pipeline run again paced by omni-loadgen
# (tools/loadgen.c, also on CPU 1): their maximum rate with evenly spaced
# requests is found first, then each runs at OMNI_BENCH_LOAD % (default 80)
# of it, in turn with plain proxy_pass at the same rate, for their p99.
# Any answer whose status is not what the case expects (2xx, or 401 for the
# refusal), and any socket error, fails the bench.

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
scripts=$root/tools/bench
prefix=$root/build/bench
module=$root/build/nginx/objs/ngx_http_omni_module.so
modules=/usr/lib/nginx/modules # Debian's lua-nginx-module and its NDK
mint=$root/build/bin/omni-jwt
loadgen=$root/build/bin/omni-loadgen
nginx=${OMNI_NGINX:-/usr/sbin/nginx}
port=${OMNI_BENCH_PORT:-18480}
seconds=${OMNI_BENCH_SECONDS:-3}
runs=${OMNI_BENCH_RUNS:-5}
connections=${OMNI_BENCH_CONNECTIONS:-32}
pool=${OMNI_BENCH_POOL:-20000}
rss_requests=${OMNI_BENCH_RSS_REQUESTS:-0}
# the paced runs' rate, in % of each case's maximum rate
load=${OMNI_BENCH_LOAD:-80}
if [[ ! $load =~ ^[1-9][0-9]?$ ]]; then
    echo "bench: OMNI_BENCH_LOAD must be a percentage from 1 to 99" >&2
    exit 2
fi

fail() {
    echo "bench: $*" >&2
    exit 1
}

if [ "$(nproc)" -lt 2 ]; then
    fail "needs 2 cores to pin nginx and wrk apart"
fi

rm -rf "$prefix"
mkdir -p "$prefix/keys" "$prefix/tmp" "$prefix/nginx-store" \
    "$prefix/bare-store" "$prefix/store-bench" "$prefix/requests"
# scratch stores the workers (nginx's user) create their files in
chmod 0777 "$prefix/nginx-store" "$prefix/bare-store"

keys=$prefix/keys
# the store is sealed, as a deployment's would be (docs/store.md)
"$root/build/bin/omnictl" keys init "$keys/keyring.json" > /dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$keys/rs.pem" 2>/dev/null
openssl pkey -in "$keys/rs.pem" -pubout -out "$keys/rs.pub"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$keys/es.pem"
openssl pkey -in "$keys/es.pem" -pubout -out "$keys/es.pub"
head -c 32 /dev/urandom > "$keys/hs.key"
head -c 32 /dev/urandom > "$keys/forger.key"
ivr_token=$(openssl rand -hex 16)
shipped="Order ORD-42 has shipped."
wechat_token=$(openssl rand -hex 12)

# mint ALG KEY [omni-jwt options]: a token of the bench's caller, with the
# kid the gateway knows the key by
mint() {
    "$mint" mint --alg "$1" --key "$keys/$2" --kid "${2%.*}" --sub bench \
        --roles agent,vip --ttl 3600 "${@:3}"
}

hs=$(mint HS256 hs.key)
rs=$(mint RS256 rs.pem)
es=$(mint ES256 es.pem)
forged=$(mint HS256 forger.key --kid hs)   # the right kid, a wrong secret

# the pools of first-seen tokens, the slow algorithms side by side
echo "minting $pool tokens each for HS256, RS256 and ES256..."
start=$(date +%s.%N)
mint HS256 hs.key --count "$pool" > "$keys/hs.pool"
mint RS256 rs.pem --count "$pool" > "$keys/rs.pool" & rs_minter=$!
mint ES256 es.pem --count "$pool" > "$keys/es.pool" & es_minter=$!
wait "$rs_minter"
wait "$es_minter"
awk -v s="$start" -v e="$(date +%s.%N)" \
    'BEGIN { printf "minted in %.1f s\n", e - s }'

url=http://127.0.0.1:$port
store_url=http://127.0.0.1:$((port + 2))
peer_url=http://127.0.0.1:$((port + 3))
dispatch_url=http://127.0.0.1:$((port + 4))
bare_url=http://127.0.0.1:$((port + 7))   # the second nginx's pipeline

cat > "$prefix/contract.conf" <<'END'
proxy_method POST;
proxy_set_body $omni_contract;
proxy_set_header Content-Type application/json;
proxy_set_header Connection "";
proxy_set_header Accept-Encoding "";
proxy_set_header Authorization "";
proxy_pass http://service;
END

# the same, to the pool the dispatch chose (all pools stand for the
# service), through omni_dispatch_balancer
sed 's|http://service;|http://pools;|' "$prefix/contract.conf" \
    > "$prefix/dispatch.conf"

# rate limits and dispatch as a deployment would write them: the request
# (a web customer of no tier, with a token) passes three rules to the
# default, and takes a token from a bucket too large to run out
cat > "$prefix/dispatch.json" <<'END'
{
  "version": 1,
  "rate_limits": [
    {"id": "staff", "tiers": ["staff"], "unlimited": true},
    {"id": "calls", "channels": ["ivr"], "rate": 3, "per": "hour"},
    {"id": "chat", "channels": ["web", "miniprogram", "app"],
     "anonymous": false, "rate": 1000000, "per": "second",
     "burst": 1000000}
  ],
  "pools": {
    "vip_desk": {"upstream": "service", "capacity": 1000},
    "bot": {"kind": "bot", "upstream": "service", "capacity": 1000},
    "agents": {"upstream": "service", "capacity": 1000}
  },
  "rules": [
    {"id": "vip", "tiers": ["vip"], "targets": ["vip_desk", "agents"]},
    {"id": "simple", "intents": ["order.status"], "targets": ["bot", "agents"]},
    {"id": "anonymous", "anonymous": true, "targets": ["bot"]}
  ],
  "default": {"targets": ["agents"]}
}
END

# the web channel with customers, sessions, journeys and the policy
cat > "$prefix/pipeline.conf" <<'END'
omni_channel web;
omni_customers create;
omni_session on;
omni_journey on;
omni_policy on;
END

# gateway_conf NAME PORT WITH: one of the bench's two nginx, its servers on
# PORT to PORT+4, its pid file, error log and store named after NAME.  WITH
# "all": the metrics zone, the workflow and the server that rate-limits
# and dispatches; "none": neither, the process to measure their cost
# against, in every other way the same
gateway_conf() {
    local name=$1 p=$2 features= dispatch_server=
    if [ "$3" = all ]; then
        features="omni_metrics_zone 4m;
    omni_dispatch_file $prefix/dispatch.json;
    omni_dispatch_zone 1m;"
        dispatch_server="# the full pipeline again, with rate limits and dispatch
    upstream pools {
        omni_dispatch_balancer;
    }

    server {
        listen 127.0.0.1:$((p + 4));
        omni_jwt_secret keys/hs.key kid=hs;

        location /web/ {
            include pipeline.conf;
            omni_rate_limit on;
            omni_dispatch on;
            include dispatch.conf;
        }
    }"
    fi
    cat <<END
load_module $modules/ndk_http_module.so;
load_module $modules/ngx_http_lua_module.so;
load_module $module;
worker_processes 1;
worker_cpu_affinity 01;
pid $prefix/$name.pid;
error_log $prefix/$name-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    proxy_http_version 1.1;

    upstream service {
        server 127.0.0.1:$((p + 1));
        keepalive 32;
    }

    omni_plugins $root/plugins;
    # the bench measures speed, not the budget (t/070 does): a host that
    # stalls the VM for tens of milliseconds must not fail a run
    omni_plugin_timeout 1s;
    omni_lua_library $root/lua;
    omni_store $prefix/$name-store;
    omni_store_keyring $keys/keyring.json;
    omni_policy_file $root/conf/policy.json;
    $features

    lua_package_path "$scripts/?.lua;;";
    init_by_lua_block { require("peer_web").init("$keys/hs.key") }

    server {
        listen 127.0.0.1:$p;
        omni_jwt_secret keys/hs.key kid=hs;
        omni_jwt_key keys/rs.pub kid=rs;
        omni_jwt_key keys/es.pub kid=es;

        location /plain {
            proxy_set_header Connection "";
            proxy_pass http://service;
        }

        location /gw {
            omni_gateway on;
            proxy_set_header Connection "";
            proxy_set_header X-Omni-Sub \$omni_jwt_sub;
            proxy_set_header X-Omni-Roles \$omni_jwt_roles;
            proxy_pass http://service;
        }

        location /web/ {
            omni_channel web;
            include contract.conf;
        }

        location /miniprogram/ {
            omni_channel miniprogram;
            include contract.conf;
        }

        location /app/ {
            omni_channel app;
            include contract.conf;
        }

        location /ivr/ {
            omni_channel ivr;
            omni_auth plugin;
            omni_plugin_set auth_token $ivr_token;
            omni_plugin_set base_url http://127.0.0.1:$p;
            include contract.conf;
        }

        location /wechat_oa {
            omni_channel wechat_oa;
            omni_auth plugin;
            omni_plugin_set token $wechat_token;
            include contract.conf;
        }
    }

    # the web channel again, with customers, sessions, journeys and the
    # policy
    server {
        listen 127.0.0.1:$((p + 2));
        omni_jwt_secret keys/hs.key kid=hs;

        location /web/ {
            include pipeline.conf;
            include contract.conf;
        }
    }

    $dispatch_server

    # the OpenResty peer: the web channel's job in lua-nginx-module
    server {
        listen 127.0.0.1:$((p + 3));

        location /web/ {
            set \$peer_contract "";
            access_by_lua_block { require("peer_web").access() }
            header_filter_by_lua_block { require("peer_web").header_filter() }
            body_filter_by_lua_block { require("peer_web").body_filter() }
            proxy_method POST;
            proxy_set_body \$peer_contract;
            proxy_set_header Content-Type application/json;
            proxy_set_header Connection "";
            proxy_set_header Accept-Encoding "";
            proxy_set_header Authorization "";
            proxy_pass http://service;
        }
    }

    # the service: a unified reply; the IVR and the official account get
    # one with something to say, which their plugins render as TwiML and
    # as a passive-reply message
    server {
        listen 127.0.0.1:$((p + 1));
        default_type application/json;
        location / {
            return 200 '{"ok":true,"data":{"order_id":"ORD-42","state":"shipped"}}';
        }
        location /ivr/ {
            return 200 '{"ok":true,"data":{"say":"$shipped","gather":true}}';
        }
        location /wechat_oa {
            return 200 '{"ok":true,"data":{"text":"$shipped"}}';
        }
    }
}
END
}
gateway_conf nginx "$port" all > "$prefix/nginx.conf"
gateway_conf bare $((port + 5)) none > "$prefix/bare.conf"

# the channels' requests, as their callers send them
requests=$prefix/requests
printf '%s' '{"order_id":"ORD-42"}' > "$requests/miniprogram.json"
printf '%s' '{"jsonrpc":"2.0","method":"order.query",'\
'"params":{"order_id":"ORD-42"},"id":7}' > "$requests/app.json"

# Twilio signs the URL followed by every form field, sorted by name, as
# name then value: base64(HMAC-SHA1(auth token, that string))
ivr_fields=(CallSid=CA5e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b
            AccountSid=AC3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c
            From=+14155550123 To=+18005550199 CallStatus=in-progress
            ApiVersion=2010-04-01 Digits=1)
(IFS='&'; printf '%s' "${ivr_fields[*]//+/%2B}") > "$requests/ivr.form"
ivr_signature=$( { printf '%s' "$url/ivr/voice"
                   printf '%s\n' "${ivr_fields[@]}" | LC_ALL=C sort -t= -k1,1 \
                       | sed 's/=//' | tr -d '\n'; } \
                 | openssl dgst -sha1 -hmac "$ivr_token" -binary | base64)

# WeChat signs sort(token, timestamp, nonce), joined: hex(SHA-1(...))
timestamp=$(date +%s)
nonce=$RANDOM$RANDOM
wechat_signature=$(printf '%s\n' "$wechat_token" "$timestamp" "$nonce" \
                   | LC_ALL=C sort | tr -d '\n' | sha1sum | cut -d' ' -f1)
wechat_query="signature=$wechat_signature&timestamp=$timestamp&nonce=$nonce"
wechat_query+="&openid=oIWsFt3QGpY5wKqR8xT1zL0mN2bV"
printf '%s' '<xml><ToUserName><![CDATA[gh_3a9f1c2b7d4e]]></ToUserName>'\
'<FromUserName><![CDATA[oIWsFt3QGpY5wKqR8xT1zL0mN2bV]]></FromUserName>'\
'<CreateTime>1795539998</CreateTime><MsgType><![CDATA[text]]></MsgType>'\
'<Content><![CDATA[查订单 12345]]></Content><MsgId>24602184711394612</MsgId>'\
'</xml>' > "$requests/wechat_oa.xml"

for conf in nginx bare; do
    "$nginx" -t -q -p "$prefix" -c "$prefix/$conf.conf"
done
"$nginx" -p "$prefix" -c "$prefix/nginx.conf"
trap '"$nginx" -p "$prefix" -c "$prefix/nginx.conf" -s stop' EXIT
"$nginx" -p "$prefix" -c "$prefix/bare.conf"
trap '"$nginx" -p "$prefix" -c "$prefix/nginx.conf" -s stop
      "$nginx" -p "$prefix" -c "$prefix/bare.conf" -s stop' EXIT
sleep 0.5
worker=$(ps -o pid= --ppid "$(cat "$prefix/nginx.pid")" | tr -d ' ')
if [[ ! $worker =~ ^[0-9]+$ ]]; then
    fail "expected one nginx worker, found: $worker"
fi

rss() {
    awk '/^(VmRSS|RssAnon|RssFile|RssShmem):/ { v[$1] = $2 }
         END { printf "%d kB (anon %d, file %d, shmem %d)\n", v["VmRSS:"],
                      v["RssAnon:"], v["RssFile:"], v["RssShmem:"] }' \
        "/proc/$worker/status"
}

echo "worker RSS before the first case: $(rss)"

bearer() {
    echo "Authorization: Bearer $1"
}

# describe URL [-H HEADER | answer=REGEX | body=FILE | tokens=FILE |
# NAME=VALUE]...: the request of a case, as wrk, omni-loadgen and curl
# arguments, and what curl must get: the status expect=STATUS (default 2xx)
# and an answer that matches answer=REGEX (NAME=VALUE goes to
# tools/bench/wrk.lua)
describe() {
    case_url=$1
    shift
    wrk_args=()
    script_args=()
    loadgen_args=()
    curl_args=()
    expect=2xx
    answer=
    while [ $# -gt 0 ]; do
        case $1 in
            -H)
                wrk_args+=(-H "$2")
                loadgen_args+=(-H "$2")
                curl_args+=(-H "$2")
                shift ;;
            answer=*)
                answer=${1#*=} ;;
            *=*)
                script_args+=("$1") ;;&
            body=*)
                loadgen_args+=(--body "${1#*=}")
                curl_args+=(--data-binary "@${1#*=}") ;;
            tokens=*)
                loadgen_args+=(--tokens "${1#*=}")
                curl_args+=(-H "$(bearer "$(head -n1 "${1#*=}")")") ;;
            expect=*)
                loadgen_args+=(--expect "${1#*=}")
                expect=${1#*=} ;;
        esac
        shift
    done
}

# check NAME: one request with curl, which must get the expected status
# and answer (most channels answer 200 to a failure too)
check() {
    local status
    status=$(curl -s -o "$prefix/answer" -w '%{http_code}' "${curl_args[@]}" \
             "$case_url")
    if [[ $status != "$expect" && ! ($expect == 2xx && $status == 2??) ]] \
        || ! grep -qE "$answer" "$prefix/answer"; then
        echo "bench: case \"$1\": $case_url answered $status (expected" \
             "$expect${answer:+, and an answer matching $answer}):" >&2
        cat "$prefix/answer" >&2
        echo >&2
        exit 1
    fi
}

wrk_run() {
    taskset -c 1 wrk -t1 -c"$connections" -d"$1" --latency "${wrk_args[@]}" \
        -s "$scripts/wrk.lua" "$case_url" -- "${script_args[@]}"
}

# verify NAME WRK-OUTPUT: stops the bench on a socket error, or on any
# status but 2xx and 3xx (or but the one the case expects)
verify() {
    local name=$1 out=$2 requests errors other
    requests=$(awk '/ requests in / { print $1 }' <<< "$out")
    errors=$(awk '/^  Socket errors:/ { gsub(",", "")
                                        print $4 + $6 + $8 + $10 }' <<< "$out")
    if [ "$expect" = 2xx ]; then
        other=$(awk '/^  Non-2xx or 3xx responses:/ { print $5 }' <<< "$out")
    else
        # wrk/lua counted them; no count at all is a failure too
        other=$(awk '/^unexpected statuses:/ { print $3 }' <<< "$out")
        other=${other:-"(not counted)"}
    fi
    if [ "${requests:-0}" -eq 0 ] || [ "${errors:-0}" -ne 0 ] \
        || [ "${other:-0}" != 0 ]; then
        echo "bench: case \"$name\": ${requests:-0} requests," \
             "${errors:-0} socket errors, ${other:-0} answers not $expect:" >&2
        echo "$out" >&2
        exit 1
    fi
}

median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        print v[int((NR + 1) / 2)] }'
}

# the cases in the order measure() was given them: their names and their
# requests (quoted, for describe), and each round's req/s and p99 (µs)
names=()
specs=()
case_rps=()
case_p99=()

# measure NAME URL [REQUEST...]: checks the case with curl and adds it to
# the rounds
measure() {
    local name=$1
    shift
    describe "$@"
    check "$name"
    names+=("$name")
    specs+=("$(printf '%q ' "$@")")
}

# rounds: $runs rounds of every case, each checked and warmed up for a
# second before its run of $seconds
rounds() {
    local round i out
    for ((round = 1; round <= runs; round++)); do
        echo "  round $round of $runs" >&2
        for i in "${!names[@]}"; do
            eval "describe ${specs[i]}"
            verify "${names[i]}" "$(wrk_run 1s)"
            out=$(wrk_run "${seconds}s")
            verify "${names[i]}" "$out"
            case_rps[i]+=" $(awk '/^Requests\/sec:/ { print $2 }' <<< "$out")"
            case_p99[i]+=" $(awk '$1 == "99%" {
                n = $2 + 0; unit = $2; sub(/^[0-9.]+/, "", unit)
                print n * (unit == "us" ? 1 : unit == "ms" ? 1e3 : \
                           unit == "s" ? 1e6 : 6e7) }' <<< "$out")"
        done
    done
}

# case_index NAME: where the case is in names
case_index() {
    local i
    for i in "${!names[@]}"; do
        if [ "${names[i]}" = "$1" ]; then
            echo "$i"
            return
        fi
    done
    fail "no case named \"$1\""
}

echo "the gateway and the OpenResty peer must refuse a forged token:"
for u in "$url" "$peer_url"; do
    describe "$u/web/orders/ORD-42" -H "$(bearer "$forged")" expect=401
    check "forged token"
done

# the answers of success: the service's reply, or the channel's rendering
# of it
served='answer="ok":true'
rendered='answer=^\{"data":\{'

plain_request=("$url/plain" "$served")
web_request=("$url/web/orders/ORD-42" -H "$(bearer "$hs")" "$rendered")
full_request=("$store_url/web/orders/ORD-42" -H "$(bearer "$hs")" "$rendered")

echo "checking every case:" >&2
measure "plain proxy_pass" "${plain_request[@]}"
for alg in hs rs es; do
    token=${!alg}
    measure "gateway ${alg^^}256, repeated token" "$url/gw" \
        -H "$(bearer "$token")" "$served"
    measure "gateway ${alg^^}256, fresh token per request" "$url/gw" \
        "tokens=$keys/$alg.pool" "$served"
done
measure "gateway rejects (no token, 401)" "$url/gw" expect=401
measure "OpenResty peer (web job, lua-nginx-module)" \
    "$peer_url/web/orders/ORD-42" -H "$(bearer "$hs")" "$rendered"
measure "web channel (HS256 + plugin)" "${web_request[@]}"
measure "miniprogram (HS256 + plugin)" "$url/miniprogram/order/query" \
    -H "$(bearer "$hs")" -H "Content-Type: application/json" \
    -H "X-WX-Openid: o6_bmjrPTlm6_2sgVt7hMZOPfL2M" \
    -H "X-WX-Appid: wx8f3c2a1b9d7e6f50" -H "X-WX-Version: 8.0.44" \
    "body=$requests/miniprogram.json" 'answer="errcode":0,'
measure "app JSON-RPC (HS256 + plugin)" "$url/app/rpc" \
    -H "$(bearer "$hs")" -H "Content-Type: application/json" \
    -H "X-Device-Id: 7C3E9A1F-2B4D-4E6A-8C0B-5D9F1E2A3B4C" \
    -H "X-App-Id: com.example.shop" -H "X-App-Version: 5.2.0" \
    "body=$requests/app.json" 'answer="result":\{'
measure "ivr (Twilio signature + plugin)" "$url/ivr/voice" \
    -H "Content-Type: application/x-www-form-urlencoded" \
    -H "X-Twilio-Signature: $ivr_signature" "body=$requests/ivr.form" \
    "answer=>$shipped</Say>"
measure "wechat_oa (signature + XML + plugin)" \
    "$url/wechat_oa?$wechat_query" -H "Content-Type: text/xml" \
    "body=$requests/wechat_oa.xml" \
    "answer=<Content><!\\[CDATA\\[$shipped]]></Content>"
# the cost of metrics, rate limits and dispatch: three cases side by side
# in every round
measure "full pipeline, no metrics zone or workflow" \
    "$bare_url/web/orders/ORD-42" -H "$(bearer "$hs")" "$rendered"
measure "web + customer, session, journey, policy" "${full_request[@]}"
measure "full pipeline + rate limit + dispatch" \
    "$dispatch_url/web/orders/ORD-42" -H "$(bearer "$hs")" "$rendered"

echo "measuring ($runs rounds of every case, ${seconds}s each):" >&2
rounds

rates=()
p99s=()
for i in "${!names[@]}"; do
    # shellcheck disable=SC2086  # the rounds' figures, one a word
    rates+=("$(median ${case_rps[i]})")
    # shellcheck disable=SC2086
    p99s+=("$(median ${case_p99[i]})")
done
plain=${rates[$(case_index "plain proxy_pass")]}
peer=${rates[$(case_index "OpenResty peer (web job, lua-nginx-module)")]}
web=${rates[$(case_index "web channel (HS256 + plugin)")]}
full=${rates[$(case_index "web + customer, session, journey, policy")]}

# µs a request the one case costs over the other, a line a round
differences() {
    awk -v a="${case_rps[$(case_index "$1")]}" \
        -v b="${case_rps[$(case_index "$2")]}" 'BEGIN {
        n = split(a, x); split(b, y)
        for (i = 1; i <= n; i++) printf "%.2f\n", 1e6 / x[i] - 1e6 / y[i] }'
}
mapfile -t costs < <(differences "full pipeline + rate limit + dispatch" \
                     "full pipeline, no metrics zone or workflow")
mapfile -t metrics_costs < <(differences \
    "web + customer, session, journey, policy" \
    "full pipeline, no metrics zone or workflow")

# summary KEY: the value of KEY in omni-loadgen's summary line on stdin
summary() {
    awk -v key="$1" '$1 == "summary" { for (i = 2; i <= NF; i++) {
        split($i, kv, "="); if (kv[1] == key) print kv[2] } }'
}

# loadgen_run RATE SECONDS: omni-loadgen on the described case at RATE
# requests/s after a second of warm-up (left out of its figures); any
# unexpected status or socket error stops the bench
loadgen_run() {
    local out
    if ! out=$(taskset -c 1 "$loadgen" -c "$connections" -r "$1" -w 1 \
               -d "$2" "${loadgen_args[@]}" "$case_url"); then
        echo "bench: omni-loadgen failed at $1 requests/s on $case_url:" >&2
        echo "$out" >&2
        exit 1
    fi
    echo "$out"
}

# sustained RATE: whether the worker keeps up with the described case
# arriving at RATE requests/s: the achieved rate within 1 % of it, and
# under 1 % of the requests kept waiting in the client because all the
# connections were still busy (the worker had fallen that far behind)
sustained() {
    local out
    out=$(loadgen_run "$1" 2) || exit 1
    awk -v t="$1" -v a="$(summary rate <<< "$out")" \
        -v q="$(summary queued <<< "$out")" \
        -v n="$(summary requests <<< "$out")" \
        'BEGIN { exit !(a >= 0.99 * t && q <= 0.01 * n) }'
}

# open_max WRK_RATE URL [REQUEST...]: the case's maximum rate when its
# requests arrive evenly spaced, as users' do, rather than 32 at a time as
# wrk sends them (lower: every request pays a wake-up of the worker):
# bisection between 10 % and 100 % of wrk's rate, to 2 % of the latter
open_max() {
    local lo hi mid step
    hi=$(printf '%.0f' "$1")
    lo=$(( hi / 10 ))
    step=$(( hi / 50 ))
    shift
    describe "$@"
    while [ $(( hi - lo )) -gt "$step" ]; do
        mid=$(( (lo + hi) / 2 ))
        if sustained "$mid"; then
            lo=$mid
        else
            hi=$mid
        fi
    done
    echo "$lo"
}

# pace_run RATE REQUEST...: one paced run of the case at RATE; prints
# its achieved rate, p99 and pacing error's p99
pace_run() {
    local rate=$1 out
    shift
    describe "$@"
    out=$(loadgen_run "$rate" "$seconds") || exit 1
    echo "$(summary rate <<< "$out") $(summary p99_us <<< "$out")" \
         "$(summary lag_p99_us <<< "$out")"
}

# paced NAME WRK_RATE REQUEST...: the case at $load % of its paced
# maximum, and plain proxy_pass at the same rate, for the second table:
# $runs pairs of runs, the case's then plain's, so that a host slower in
# one minute than in the next weighs on both sides of each difference;
# +plain is the median of the pairs' differences
paced_rows=()
paced() {
    local name=$1 max target i run
    local -a rpss=() p99s=() lags=() plains=() diffs=() f p
    max=$(open_max "$2" "${@:3}")
    target=$(( max * load / 100 ))
    echo "  $name: sustains $max requests/s paced" >&2
    echo "  $name and plain proxy_pass in turn at $target requests/s" >&2
    for ((i = 0; i < runs; i++)); do
        run=$(pace_run "$target" "${@:3}") || exit 1
        read -r -a f <<< "$run"
        run=$(pace_run "$target" "${plain_request[@]}") || exit 1
        read -r -a p <<< "$run"
        rpss+=("${f[0]}") p99s+=("${f[1]}") lags+=("${f[2]}")
        plains+=("${p[1]}")
        diffs+=("$(awk -v g="${f[1]}" -v q="${p[1]}" 'BEGIN { print g - q }')")
    done
    paced_rows+=("$(awk -v n="$name" -v m="$max" -v t="$target" \
        -v r="$(median "${rpss[@]}")" -v g="$(median "${p99s[@]}")" \
        -v l="$(median "${lags[@]}")" -v p="$(median "${plains[@]}")" \
        -v d="$(median "${diffs[@]}")" 'BEGIN {
        printf "%-46s %8d %8d %9.0f %8.0f %8.1f %8.0f %+8.0f", n, m, t, r,
               g, l, p, d }')")
}
paced "web channel (HS256 + plugin)" "$web" "${web_request[@]}"
paced "web + customer, session, journey, policy" "$full" "${full_request[@]}"

echo "worker RSS after the last case: $(rss)"

printf '\n%-46s %9s %9s %8s %8s %8s\n' case 'req/s' 'µs/req' '×plain' \
    '×peer' 'p99 µs'
for i in "${!names[@]}"; do
    awk -v name="${names[i]}" -v rps="${rates[i]}" -v p99="${p99s[i]}" \
        -v plain="$plain" -v peer="$peer" 'BEGIN {
        printf "%-46s %9.0f %8.1f %7.2f %7.2f %7.0f\n", name, rps, 1e6 / rps,
               rps / plain, rps / peer, p99 }'
done

printf '\n%-46s %8s %8s %9s %8s %8s %8s %8s\n' \
    "p99 at $load % of the paced max (µs)" max target achieved p99 late \
    plain '+plain'
for row in "${paced_rows[@]}"; do
    echo "$row"
done

# wrk runs until its -d is over even when the script has stopped its
# thread, so the long run goes in chunks of at most 10 s
if [ "$rss_requests" -gt 0 ]; then
    echo
    echo "worker RSS over $rss_requests requests of the full pipeline:"
    before=$(rss)
    sent=0
    while [ "$sent" -lt "$rss_requests" ]; do
        describe "${full_request[@]}" "requests=$((rss_requests - sent))"
        out=$(wrk_run 10s)
        verify "RSS run" "$out"
        sent=$((sent + $(awk '/ requests in / { print $1 }' <<< "$out")))
    done
    after=$(rss)
    echo "  before: $before"
    echo "  after:  $after"
    awk -v b="${before%% *}" -v a="${after%% *}" -v n="$sent" \
        'BEGIN { printf "  change: %+.2f %% over %d requests\n",
                 (a - b) * 100 / b, n }'
fi

# the worker's user CPU time a request of the described case, in µs
user_us() {
    local t0 t1 out
    t0=$(awk '{ print $14 }' "/proc/$worker/stat")
    out=$(wrk_run "${seconds}s")
    t1=$(awk '{ print $14 }' "/proc/$worker/stat")
    verify "user CPU time" "$out"
    awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" \
        -v n="$(awk '/ requests in / { print $1 }' <<< "$out")" \
        'BEGIN { printf "%.2f", t * 1e6 / hz / n }'
}

# callgrind_command PID OPTION URL: callgrind_control's OPTION for the
# process, which sees a command only when it runs: an idle one is woken by
# requests to URL (a few, cheap beside a run's thousands)
callgrind_command() {
    local ctl
    callgrind_control "$2" "$1" > /dev/null 2>&1 &
    ctl=$!
    while kill -0 "$ctl" 2> /dev/null; do
        curl -s -o /dev/null "$3" || true
        sleep 0.1
    done
    wait "$ctl"
}

# callgrind NAME URL...: the instructions a request the worker runs for
# each URL's full pipeline in the nginx NAME, one a line: the process runs
# alone (no master) under callgrind, each URL warmed up, the counters
# zeroed, 5 s of wrk (a few thousand requests), the counters dumped.
# Fails, the process killed, when nginx does not answer within a minute
# under valgrind (seen once: valgrind grew to 18 GB while nginx started)
callgrind() {
    local name=$1 url pid i dump=0 out
    shift
    rm -f "$prefix/callgrind.out"*
    taskset -c 0 valgrind --tool=callgrind --smc-check=all-non-file \
        --callgrind-out-file="$prefix/callgrind.out" \
        "$nginx" -p "$prefix" -c "$prefix/$name.conf" \
        -g "master_process off; daemon off;" 2> "$prefix/callgrind.log" &
    pid=$!
    for url in "$@"; do
        describe "$url" -H "$(bearer "$hs")" "$rendered"
        for ((i = 0; i < 300; i++)); do
            if curl -s -o /dev/null "$url"; then
                break
            fi
            sleep 0.2
        done
        if [ "$i" -eq 300 ]; then
            kill -9 "$pid"
            wait "$pid" || true
            echo "bench: $name did not answer under callgrind within a" \
                 "minute (build/bench/callgrind.log)" >&2
            return 1
        fi
        verify "$name under callgrind" "$(wrk_run 2s)"
        callgrind_command "$pid" -z "$url"
        out=$(wrk_run 5s)
        callgrind_command "$pid" -d "$url"
        verify "$name under callgrind" "$out"
        dump=$((dump + 1))
        callgrind_annotate "$prefix/callgrind.out.$dump" \
            | awk -v n="$(awk '/ requests in / { print $1 }' <<< "$out")" \
                  '/PROGRAM TOTALS/ { gsub(",", "", $1); printf "%d\n", $1 / n }'
    done
    kill "$pid"
    wait "$pid" || true
}

# what metrics, rate limits and dispatch cost: the rounds' differences
# (wall clock, which a slow spell of the host moves by more than the cost
# itself), and instructions, which it does not move, turned into time at
# the worker's user CPU time a request
echo "  user CPU time and instructions of the full pipeline" >&2
describe "$dispatch_url/web/orders/ORD-42" -H "$(bearer "$hs")" "$rendered"
verify "user CPU time" "$(wrk_run 1s)"
dispatch_user_us=$(user_us)
"$nginx" -p "$prefix" -c "$prefix/nginx.conf" -s stop
"$nginx" -p "$prefix" -c "$prefix/bare.conf" -s stop
trap - EXIT
sleep 1
instructions=()
bare_instructions=
if out=$(callgrind nginx "$store_url/web/orders/ORD-42" \
                         "$dispatch_url/web/orders/ORD-42"); then
    mapfile -t instructions <<< "$out"
    bare_instructions=$(callgrind bare "$bare_url/web/orders/ORD-42") \
        || bare_instructions=
fi

# cost LABEL INSTRUCTIONS DIFFERENCE...: the median of the rounds'
# differences and their range, then the instructions over the bare
# pipeline's, and what they take at the user CPU time a request (none
# when callgrind failed)
cost() {
    local label=$1 count=$2
    shift 2
    printf '%s\n' "$@" | sort -g | awk -v label="$label" -v i="$count" \
        -v b="$bare_instructions" -v all="${instructions[1]:-}" \
        -v us="$dispatch_user_us" '{ v[NR] = $1 } END {
        printf "%-34s %+6.2f (%+.2f to %+.2f)", label, v[int((NR + 1) / 2)],
               v[1], v[NR]
        if (i != "" && b != "" && all != "")
            printf " %+7d %+6.1f%% %+6.2f", i - b, (i - b) * 100 / b,
                   (i - b) * us / all
        printf "\n" }'
}
echo
echo "over the full pipeline without them:"
printf '%-34s %22s %8s %7s %6s\n' "" "µs, rounds' wall clock" instr. "" \
    "µs CPU"
cost "metrics" "${instructions[0]:-}" "${metrics_costs[@]}"
cost "metrics, rate limits and dispatch" "${instructions[1]:-}" "${costs[@]}"
if [ -n "$bare_instructions" ]; then
    echo "(the pipeline without them: $bare_instructions instructions a" \
         "request; with them $dispatch_user_us µs of user CPU time)"
else
    echo "(no instruction counts: callgrind failed, said above)"
fi

echo
echo "the store alone ($root/build/bin/omni-store-bench, one process):"
"$root/build/bin/omni-store-bench" "$prefix/store-bench"

echo
echo "the policy engine alone (1,000 roles x 20 rules):"
"$root/build/bin/omni-policy-bench"

echo
echo "nginx worker pinned to CPU 0, wrk and omni-loadgen to CPU 1,"
echo "$connections connections; median of $runs rounds (every case once a round,"
echo "${seconds}s after a 1s warm-up); late µs: the p99 of how late omni-loadgen"
echo "sent the requests that found a connection idle (its pacing error);"
echo "+plain: the median of the differences of runs made in turn with plain's."
