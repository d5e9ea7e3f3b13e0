#!/bin/bash
# Unpacks Debian's nginx source package (its patches applied) as DIR, for
# the sanitizer build of make test-asan: nginx-dev ships headers and
# configure scripts only, not the sources of the binary.
#
# usage: t/sanitizers/nginx-source.sh DIR CONF_FLAGS
#
# The package comes from the main suite of the release (nginx/<codename>):
# the security suite lists newer versions in its index but does not always
# serve their sources.  When apt knows no source package, a deb-src entry
# is added next to the machine's own: a copy of its deb822 entries for the
# release's suite with "Types: deb-src", so no address is written here.
# CONF_FLAGS (nginx-dev's conf_flags, the flags Debian builds nginx with)
# is copied in, to configure this tree as the module's own is.

set -euo pipefail

dir=$1
conf_flags=$2
list=/etc/apt/sources.list.d/omni-deb-src.sources

. /etc/os-release
suite=$VERSION_CODENAME

# grep reads all (no -q): with pipefail, apt-cache killed by SIGPIPE would
# count as no source package
if ! apt-cache showsrc nginx 2>/dev/null | grep '^Package: nginx$' >/dev/null; then
    if [ "$(id -u)" != 0 ]; then
        echo "nginx-source: root is needed to add a deb-src entry" >&2
        exit 1
    fi

    # the deb822 stanzas that fetch binary packages of the main suite
    entries=$(mktemp)
    awk -v suite="$suite" '
        BEGIN { RS = ""; ORS = "\n\n" }
        /(^|\n)Types:[^\n]*[ \t]deb([ \t]|\n|$)/ &&
        $0 ~ "(^|\n)Suites:([^\n]*[ \t])?" suite "([ \t]|\n|$)" {
            sub(/Types:[^\n]*/, "Types: deb-src")
            print
        }' /etc/apt/sources.list.d/*.sources > "$entries"

    if [ ! -s "$entries" ]; then
        rm -f "$entries"
        echo "nginx-source: no deb822 entry for $suite under" \
             "/etc/apt/sources.list.d to derive a deb-src entry from" >&2
        exit 1
    fi

    install -m 0644 "$entries" "$list"
    rm -f "$entries"
    apt-get update -qq
fi

tmp=$dir.tmp
rm -rf "$tmp" "$dir"
mkdir -p "$tmp"

(cd "$tmp" && apt-get source "nginx/$suite") > "$tmp.log" 2>&1 || {
    tail -20 "$tmp.log" >&2
    exit 1
}

mv "$tmp"/nginx-*/ "$dir"
cp "$conf_flags" "$dir/conf_flags"
rm -rf "$tmp" "$tmp.log"
