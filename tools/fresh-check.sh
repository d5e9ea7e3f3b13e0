#!/bin/bash
# Proves that `make test` passes on its first run on a machine without the
# build dependencies: removes the -dev packages (and nginx's, which pull in
# the module's runtime), clones the checkout's HEAD into a temporary
# directory and runs `make test` there once.  Needs root; changes the
# machine's packages (make deps puts them back).
#
# usage: tools/fresh-check.sh [log file]

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
log=${1:-/tmp/omni-fresh-check.log}
removed="libluajit2-5.1-dev libjwt-dev libjansson-dev liblmdb-dev \
libcmocka-dev nginx-dev libnats-dev nats-server prometheus chromium \
python3-websocket"

if [ "$(id -u)" != 0 ]; then
    echo "fresh-check: needs root to remove packages" >&2
    exit 1
fi

DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq $removed >/dev/null
for p in $removed; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q 'install ok installed'; then
        echo "fresh-check: $p is still installed" >&2
        exit 1
    fi
done

clone=$(mktemp -d /tmp/omni-fresh.XXXXXX)
git clone -q "$root" "$clone"
echo "fresh-check: make test in $clone (log: $log)"
if (cd "$clone" && make test) >"$log" 2>&1; then
    echo "fresh-check: first make test passed"
    rm -rf "$clone"
else
    tail -20 "$log"
    echo "fresh-check: first make test FAILED (clone kept: $clone)" >&2
    exit 1
fi
