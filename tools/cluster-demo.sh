#!/bin/bash
# make cluster-demo: three gateway nodes on loopback sharing revocations
# and policy revisions through one nats-server with JetStream
# (docs/cluster.md).  Everything lives under build/cluster-demo; Ctrl-C
# stops what this script started (by pid), and nothing else.
#
# usage: tools/cluster-demo.sh [first-port]; node N listens on
# first-port + N - 1 (default 8091..8093) and its demo upstream 100 ports
# above, nats-server on 14222 (OMNI_NATS_PORT).

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
base=${1:-8091}
nats_port=${OMNI_NATS_PORT:-14222}
demo=$root/build/cluster-demo
module=$root/build/nginx/objs/ngx_http_omni_module.so
bin=$root/build/bin
nginx=${OMNI_NGINX:-/usr/sbin/nginx}
nats=$(command -v nats-server || echo /usr/sbin/nats-server)
pids=()

stop() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2> /dev/null || true
    done
    for n in 1 2 3; do
        [ -f "$demo/node$n/nginx.pid" ] \
            && kill -QUIT "$(cat "$demo/node$n/nginx.pid")" 2> /dev/null
    done
    wait 2> /dev/null || true
}

trap stop EXIT

[ -x "$nats" ] || { echo "nats-server is missing: make deps" >&2; exit 1; }

mkdir -p "$demo/nats"
[ -f "$demo/hs256.key" ] || head -c 32 /dev/urandom > "$demo/hs256.key"

"$nats" -js -sd "$demo/nats" -a 127.0.0.1 -p "$nats_port" \
    > "$demo/nats/server.log" 2>&1 &
pids+=($!)

for n in 1 2 3; do
    prefix=$demo/node$n
    port=$((base + n - 1))
    mkdir -p "$prefix/store" "$prefix/tmp"
    [ "$(id -u)" = 0 ] && chown nobody "$prefix/store"

    cat > "$prefix/nginx.conf" <<END
load_module $module;
worker_processes 2;
pid $prefix/nginx.pid;
error_log $prefix/error.log info;
events { worker_connections 256; }
http {
    access_log $prefix/access.log;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    omni_store $prefix/store;
    omni_jwt_secret $demo/hs256.key;

    server {
        listen 127.0.0.1:$((port + 100));
        location / { return 200 "node$n: ok\\n"; }
    }

    server {
        listen 127.0.0.1:$port;
        location /api {
            omni_gateway on;
            proxy_pass http://127.0.0.1:$((port + 100));
        }
        location /admin/ { omni_gateway on; omni_admin; }
    }
}
END
    "$nginx" -p "$prefix" -c "$prefix/nginx.conf"
done

sleep 0.5

for n in 1 2 3; do
    # the workers make the store's files; omni-sync opens them after
    curl -s -o /dev/null "http://127.0.0.1:$((base + n - 1))/api" || true
    # case ids of node N begin with N: no two nodes give the same one
    "$bin/omni-sync" --store "$demo/node$n/store" --node "node$n" \
        --nats "nats://127.0.0.1:$nats_port" --case-digit "$n" \
        >> "$demo/node$n/sync.log" 2>&1 &
    pids+=($!)
done

admin=$("$bin/omni-jwt" mint --alg HS256 --key "$demo/hs256.key" \
        --sub demo-admin --roles admin 2> /dev/null || true)
user=$("$bin/omni-jwt" mint --alg HS256 --key "$demo/hs256.key" \
       --sub erin --jti demo-1 2> /dev/null || true)

cat <<END
three nodes on 127.0.0.1:$base-$((base + 2)), nats-server on $nats_port
(files under $demo; Ctrl-C stops them)

  # a token passes on every node
  for p in $base $((base + 1)) $((base + 2)); do
      curl -s -H "Authorization: Bearer $user" http://127.0.0.1:\$p/api
  done

  # revoke it on node 2 ...
  curl -s -X POST -H "Authorization: Bearer $admin" \\
      -d '{"kind":"jti","value":"demo-1"}' http://127.0.0.1:$((base + 1))/admin/revocations

  # ... and node 1 and node 3 refuse it (401 token_revoked)
  curl -s -H "Authorization: Bearer $user" http://127.0.0.1:$base/api

  # each node's cursors and its omni-sync's state
  $bin/omnictl -d $demo/node1/store cluster status
END

wait
