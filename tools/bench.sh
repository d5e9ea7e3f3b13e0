#!/bin/bash
# make bench: requests per second through the gateway against plain
# proxy_pass, measured in the same run on loopback.  One nginx worker is
# pinned to CPU 0 and wrk to CPU 1; each case is warmed up, then run
# OMNI_BENCH_RUNS times for OMNI_BENCH_SECONDS, and the median is reported
# with its ratio to plain proxy_pass.

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
prefix=$root/build/bench
module=$root/build/nginx/objs/ngx_http_omni_module.so
mint=$root/build/bin/omni-jwt
nginx=${OMNI_NGINX:-/usr/sbin/nginx}
port=${OMNI_BENCH_PORT:-18480}
seconds=${OMNI_BENCH_SECONDS:-5}
runs=${OMNI_BENCH_RUNS:-3}
connections=${OMNI_BENCH_CONNECTIONS:-32}

if [ "$(nproc)" -lt 2 ]; then
    echo "bench: needs 2 cores to pin nginx and wrk apart" >&2
    exit 1
fi

rm -rf "$prefix"
mkdir -p "$prefix/keys" "$prefix/tmp" "$prefix/store" "$prefix/store-bench"
# a scratch store the workers (nginx's user) create their files in
chmod 0777 "$prefix/store"

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$prefix/keys/rs.pem" 2>/dev/null
openssl pkey -in "$prefix/keys/rs.pem" -pubout -out "$prefix/keys/rs.pub"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$prefix/keys/es.pem"
openssl pkey -in "$prefix/keys/es.pem" -pubout -out "$prefix/keys/es.pub"
head -c 32 /dev/urandom > "$prefix/keys/hs.key"

cat > "$prefix/nginx.conf" <<END
load_module $module;
worker_processes 1;
worker_cpu_affinity 01;
pid $prefix/nginx.pid;
error_log $prefix/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;

    upstream service {
        server 127.0.0.1:$((port + 1));
        keepalive 32;
    }

    omni_plugins $root/plugins;
    omni_lua_library $root/lua;
    omni_store $prefix/store;
    omni_policy_file $root/conf/policy.json;

    server {
        listen 127.0.0.1:$port;
        omni_jwt_secret keys/hs.key kid=hs;
        omni_jwt_key keys/rs.pub kid=rs;
        omni_jwt_key keys/es.pub kid=es;

        proxy_http_version 1.1;

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
            proxy_set_header Connection "";
            proxy_method POST;
            proxy_set_header Content-Type application/json;
            proxy_set_header Accept-Encoding "";
            proxy_set_header Authorization "";
            proxy_set_body \$omni_contract;
            proxy_pass http://service;
        }

    }

    # the web channel again, with customers, sessions, journeys and the
    # policy
    server {
        listen 127.0.0.1:$((port + 2));
        omni_jwt_secret keys/hs.key kid=hs;
        proxy_http_version 1.1;

        location /web/ {
            omni_channel web;
            omni_customers create;
            omni_session on;
            omni_journey on;
            omni_policy on;
            proxy_set_header Connection "";
            proxy_method POST;
            proxy_set_header Content-Type application/json;
            proxy_set_header Accept-Encoding "";
            proxy_set_header Authorization "";
            proxy_set_body \$omni_contract;
            proxy_pass http://service;
        }
    }

    server {
        listen 127.0.0.1:$((port + 1));
        location / {
            default_type application/json;
            return 200 '{"ok":true,"data":{"order_id":"ORD-42","state":"shipped"}}';
        }
    }
}
END

"$nginx" -t -q -p "$prefix" -c "$prefix/nginx.conf"
"$nginx" -p "$prefix" -c "$prefix/nginx.conf"
trap '"$nginx" -p "$prefix" -c "$prefix/nginx.conf" -s stop' EXIT
sleep 0.5

hs=$("$mint" mint --alg HS256 --key "$prefix/keys/hs.key" --kid hs \
     --sub bench --roles agent,vip --ttl 3600)
rs=$("$mint" mint --alg RS256 --key "$prefix/keys/rs.pem" --kid rs \
     --sub bench --roles agent,vip --ttl 3600)
es=$("$mint" mint --alg ES256 --key "$prefix/keys/es.pem" --kid es \
     --sub bench --roles agent,vip --ttl 3600)

url=http://127.0.0.1:$port

store_url=http://127.0.0.1:$((port + 2))

for u in "$url/web/orders/ORD-42" "$store_url/web/orders/ORD-42"; do
    status=$(curl -s -o /dev/null -w '%{http_code}' "$u" \
             -H "Authorization: Bearer $hs")
    if [ "$status" != 200 ]; then
        echo "bench: $u answered $status to a valid token" >&2
        exit 1
    fi
done

# prints the median requests/s of $runs runs (against $3, default $url)
measure() {
    local path=$1 token=$2 base=${3:-$url} i rps
    local -a args=(-t1 -c"$connections")

    if [ -n "$token" ]; then
        args+=(-H "Authorization: Bearer $token")
    fi

    taskset -c 1 wrk "${args[@]}" -d1s "$base$path" > /dev/null

    for ((i = 0; i < runs; i++)); do
        taskset -c 1 wrk "${args[@]}" -d"${seconds}s" "$base$path" \
            | awk '/^Requests\/sec:/ { print $2 }'
    done | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

status=$(curl -s -o /dev/null -w '%{http_code}' "$url/gw" \
         -H "Authorization: Bearer $rs")
if [ "$status" != 200 ]; then
    echo "bench: the gateway answered $status to a valid token" >&2
    exit 1
fi

plain=$(measure /plain "")

printf '\n%-34s %12s %8s %12s\n' case 'req/s' ratio 'us/req'
printf '%-34s %12s %8s %12s\n' ---- ----- ----- ------
report() {
    awk -v name="$1" -v rps="$2" -v base="$plain" 'BEGIN {
        printf "%-34s %12.0f %8.3f %12.1f\n", name, rps, rps / base,
               1e6 / rps
    }'
}

report "plain proxy_pass" "$plain"
report "gateway HS256" "$(measure /gw "$hs")"
report "gateway RS256" "$(measure /gw "$rs")"
report "gateway ES256" "$(measure /gw "$es")"
report "gateway rejects (no token, 401)" "$(measure /gw "")"
report "web channel (HS256 + plugin)" "$(measure /web/orders/ORD-42 "$hs")"
report "web + customer, session, journey, policy" \
    "$(measure /web/orders/ORD-42 "$hs" "$store_url")"

echo
echo "the store alone ($root/build/bin/omni-store-bench, one process):"
"$root/build/bin/omni-store-bench" "$prefix/store-bench"

echo
echo "the policy engine alone (1,000 roles x 20 rules):"
"$root/build/bin/omni-policy-bench"

echo
echo "nginx worker pinned to CPU 0, wrk to CPU 1, $connections connections;"
echo "median of $runs runs of ${seconds}s each after a 1s warm-up."
