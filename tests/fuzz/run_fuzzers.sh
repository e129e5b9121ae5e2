#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan, in
# build-fuzz/) and runs each for SECONDS, one after another, from a copy of
# its committed corpus. Prints one row per target and fails when any target
# crashed, leaked or tripped a sanitizer; the input that did it is left in
# build-fuzz/fuzz-findings/<target>/ (add it to tests/fuzz/regressions/<target>/
# once the parser is fixed).
#
#     tests/fuzz/run_fuzzers.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-30}
shift || true
build=${KD_FUZZ_BUILD:-build-fuzz}

CC=clang cmake -S . -B "$build" -DKD_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target fuzz_targets -j "${KD_FUZZ_JOBS:-2}" >/dev/null

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for source in tests/fuzz/fuzz_*.c; do
        name=$(basename "$source" .c)
        targets+=("${name#fuzz_}")
    done
fi

# The targets write their inputs to files; tmpfs keeps that (and fsync) cheap.
if [ -z "${TMPDIR:-}" ] && [ -w /dev/shm ]; then
    export TMPDIR=/dev/shm
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
printf '%-16s %10s %8s %8s  %s\n' target runs coverage features result
for name in "${targets[@]}"; do
    program="$build/tests/fuzz/fuzz_$name"
    work="$build/fuzz-work/$name"
    findings="$build/fuzz-findings/$name"
    rm -rf "$work" && mkdir -p "$work" "$findings"
    log="$build/fuzz-work/$name.log"
    result=ok
    # New inputs go to the work copy; the committed corpus stays as it is.
    if ! "$program" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
            -max_len=65536 -print_final_stats=1 -artifact_prefix="$findings/" \
            "$work" "tests/fuzz/corpus/$name" >"$log" 2>&1; then
        result="CRASH (see $log, input in $findings/)"
        failed=1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    features=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    printf '%-16s %10s %8s %8s  %s\n' "$name" "${runs:-?}" "${coverage:-?}" "${features:-?}" \
        "$result"
done
exit $failed
