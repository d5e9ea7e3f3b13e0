#!/bin/bash
# Self-test of the contract and policy schemas, their examples and
# tools/validate-json.
#
#   t/schema/run.sh            (from anywhere; runs from the repository root)
#
# - every t/fixtures/{contracts,replies}/valid/*.json must validate;
# - every .../invalid/*.json must be rejected (exit 1, not a syntax error),
#   and all its errors must name one JSON path: a fixture breaks one rule;
# - the JSON examples of docs/contract.md marked "<!-- example: contract -->"
#   or "<!-- example: reply -->" must validate;
# - every t/fixtures/policies/valid/*.json and conf/policy.json must validate
#   against schema/policy.schema.json, every .../invalid/*.json must be
#   rejected the same way; so must the examples of docs/policy.md marked
#   "<!-- example: policy -->" (t/unit/test_policy.c runs the same files
#   through the policy compiler, which must agree);
# - a few checks of the validator's own behaviour (stdin, exit codes).
# Last line: "N passed, M failed"; exit status 1 when M > 0.

set -u
cd "$(dirname "$0")/../.." || exit 2

V=tools/validate-json
CONTRACT=schema/contract.schema.json
REPLY=schema/reply.schema.json
POLICY=schema/policy.schema.json
passed=0
failed=0
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

ok()     { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/#   /'; }

# check_set SCHEMA valid|invalid FILE...
# One validator run per set; awk sorts its output by file (forks are slow).
check_set() {
    local schema=$1 expect=$2 out rc res counts
    shift 2
    if [ $# -eq 0 ]; then
        not_ok "$expect examples for $schema: none found"
        return
    fi
    out=$("$V" "$schema" "$@" 2>&1)
    rc=$?
    res=$(printf '%s\n' "$out" | awk -v expect="$expect" '
        BEGIN {
            for (i = 1; i < ARGC; i++) { file[i] = ARGV[i]; nfiles = i; ARGV[i] = "" }
        }
        {
            k = index($0, ": ")
            if (k == 0) next
            f = substr($0, 1, k - 1)
            n[f]++
            line[f, n[f]] = $0
        }
        function report(good, name, f,   i) {
            if (good) { pass++; print "ok - " name; return }
            fail++
            print "not ok - " name
            if (n[f] == 0) print "#   <no output>"
            for (i = 1; i <= n[f]; i++) print "#   " line[f, i]
        }
        END {
            for (j = 1; j <= nfiles; j++) {
                f = file[j]
                first = (n[f] > 0) ? substr(line[f, 1], length(f) + 3) : ""
                if (expect == "valid") {
                    report(n[f] == 1 && first == "ok", "valid: " f, f)
                    continue
                }
                bad = (n[f] == 0)
                delete seen; paths = 0
                for (i = 1; i <= n[f]; i++) {
                    rest = substr(line[f, i], length(f) + 3)
                    if (rest == "ok" || rest ~ /^(invalid JSON|not UTF-8)/) bad = 1
                    p = rest; sub(/: .*/, "", p)
                    if (!(p in seen)) { seen[p] = 1; paths++ }
                }
                if (!bad && paths != 1) { report(0, "invalid: " f " (errors at more than one path)", f); continue }
                if (length(first) > 120) first = substr(first, 1, 117) "..."
                report(!bad, "invalid: " f (bad ? "" : " -- " first), f)
            }
            print pass + 0, fail + 0
        }' "$@")
    counts=${res##*$'\n'}
    [ "$counts" = "$res" ] || printf '%s\n' "${res%$'\n'*}"
    passed=$((passed + ${counts% *}))
    failed=$((failed + ${counts#* }))
    if [ "$expect" = valid ] && [ $rc -ne 0 ]; then
        not_ok "exit status 0 for valid examples of $schema" "got $rc"
    elif [ "$expect" = invalid ] && [ $rc -ne 1 ]; then
        not_ok "exit status 1 for invalid examples of $schema" "got $rc"
    fi
}

shopt -s nullglob
check_set "$CONTRACT" valid   t/fixtures/contracts/valid/*.json
check_set "$CONTRACT" invalid t/fixtures/contracts/invalid/*.json
check_set "$REPLY"    valid   t/fixtures/replies/valid/*.json
check_set "$REPLY"    invalid t/fixtures/replies/invalid/*.json
check_set "$POLICY"   valid   t/fixtures/policies/valid/*.json conf/policy.json
check_set "$POLICY"   invalid t/fixtures/policies/invalid/*.json

# Examples in docs/contract.md: a marker line, then a ```json fence.
awk -v out="$tmp" '
    /^<!-- example: (contract|reply) -->$/ { kind = $3; next }
    kind != "" && !infence && /^```json$/ { infence = 1; n++; f = sprintf("%s/doc-%s-%02d.json", out, kind, n); next }
    infence && /^```$/ { infence = 0; kind = ""; close(f); next }
    infence { print > f; next }
    { kind = "" }
' docs/contract.md || not_ok "extract examples from docs/contract.md"
check_set "$CONTRACT" valid "$tmp"/doc-contract-*.json
check_set "$REPLY"    valid "$tmp"/doc-reply-*.json

# Examples in docs/policy.md, marked the same way.
awk -v out="$tmp" '
    /^<!-- example: policy -->$/ { kind = "policy"; next }
    kind != "" && !infence && /^```json$/ { infence = 1; n++; f = sprintf("%s/doc-%s-%02d.json", out, kind, n); next }
    infence && /^```$/ { infence = 0; kind = ""; close(f); next }
    infence { print > f; next }
    { kind = "" }
' docs/policy.md || not_ok "extract examples from docs/policy.md"
check_set "$POLICY"   valid "$tmp"/doc-policy-*.json

# The validator itself.
expect_tool() {   # NAME WANT_RC WANT_OUTPUT_REGEX STDIN ARGS...
    local name=$1 want_rc=$2 want_out=$3 input=$4 out rc
    shift 4
    out=$(printf '%s' "$input" | "$V" "$@" 2>&1)
    rc=$?
    if [ $rc -eq "$want_rc" ] && printf '%s\n' "$out" | grep -Eq -- "$want_out"; then
        ok "validate-json: $name"
    else
        not_ok "validate-json: $name" "exit $rc (want $want_rc): $out"
    fi
}
expect_tool "no arguments is a usage error" 2 '^usage: ' ''
expect_tool "reads stdin without FILE" 0 '^-: ok$' '{"ok": true, "data": null}' "$REPLY"
expect_tool "reports the JSON path of an error" 1 '^-: \$\.error\.code: ' \
    '{"ok": false, "error": {"code": "Bad", "message": ""}}' "$REPLY"
expect_tool "JSON syntax error exits 2" 2 '^-: invalid JSON: ' '{"ok": true,' "$REPLY"
expect_tool "duplicate keys are a syntax error" 2 'duplicate object key "ok"' \
    '{"ok": true, "ok": false, "error": {"code": "a", "message": ""}}' "$REPLY"
expect_tool "NaN is a syntax error" 2 'NaN is not JSON' '{"ok": true, "data": NaN}' "$REPLY"
expect_tool "missing file exits 2" 2 '^/nonexistent/x\.json: ' '' "$REPLY" /nonexistent/x.json
expect_tool "missing schema exits 2" 2 'nonexistent' '' /nonexistent/schema.json

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
