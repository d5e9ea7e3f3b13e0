#!/bin/bash
# make fuzz: runs each libFuzzer target (built by make fuzz-build) for a
# while, one after the other (docs/testing.md, "Fuzzing").
#
#   tools/fuzz.sh SECONDS NAME...
#
# A target starts from its seeds (t/fuzz/corpus/NAME, never written) and
# what earlier runs found (build/fuzz/corpus/NAME, where new inputs go),
# with the dictionary of its input's language (t/fuzz/dict/).  A crash, a
# leak, a sanitizer report or an input slower than FUZZ_TIMEOUT seconds
# stops the target; its input is left in build/fuzz/artifacts/NAME/ and
# the log in build/fuzz/logs/NAME.log.  Prints executions and exec/s per
# target; exits 1 when any target failed.  FUZZ_ARGS adds libFuzzer
# options (e.g. -runs=10000000 with a large SECONDS for a campaign).

set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/build/fuzz
seconds=$1
shift
timeout=${FUZZ_TIMEOUT:-10}
failed=0

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

printf '%-14s %12s %10s %8s  %s\n' target executions exec/s seconds result

for name in "$@"; do
    bin=$out/fuzz_$name
    corpus=$out/corpus/$name
    artifacts=$out/artifacts/$name
    log=$out/logs/$name.log

    case $name in
        token|admin|import|change|form) dict=$name ;;
        lua_decoders|xml)   dict=xml ;;
        *)                  dict=json ;;
    esac

    mkdir -p "$corpus" "$artifacts" "$out/logs"

    start=$(date +%s)

    # shellcheck disable=SC2086
    "$bin" -max_total_time="$seconds" -timeout="$timeout" -max_len=16384 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" \
        -dict="$root/t/fuzz/dict/$dict.dict" \
        ${FUZZ_ARGS:-} "$corpus" "$root/t/fuzz/corpus/$name" > "$log" 2>&1
    rc=$?

    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")

    if [ "$rc" = 0 ]; then
        result=ok
    else
        result="FAILED ($rc): see $log"
        failed=1
    fi

    printf '%-14s %12s %10s %8s  %s\n' "$name" "${runs:-?}" "${rate:-?}" \
        "$(($(date +%s) - start))" "$result"
done

exit $failed
