#!/usr/bin/env bash
# Times two or more kd builds against each other, interleaved round by round,
# on one training shape, and prints each build's median tokens/s and fastest
# step. On a shared VM the speed of the machine itself drifts by 10-20% over
# minutes, so a change is only measured against its parent run alternately in
# the same few minutes, never against a figure taken earlier.
#
#   bench/compare_builds.sh [--config FILE] [--rounds 6] [--threads 2]
#                           [--batch 4] [--seq 256] [--steps 4] BUILD...
#
#   git stash; cmake --build build; cp build/kd /tmp/kd-before; git stash pop
#   cmake --build build; bench/compare_builds.sh /tmp/kd-before build/kd
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
config=$root/configs/teacher-tiny.json
rounds=6 threads=2 batch=4 seq=256 steps=4
builds=()
while [ $# -gt 0 ]; do
    case $1 in
    --config) config=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --threads) threads=$2; shift ;;
    --batch) batch=$2; shift ;;
    --seq) seq=$2; shift ;;
    --steps) steps=$2; shift ;;
    -*) echo "compare_builds.sh: unknown option $1" >&2; exit 2 ;;
    *) builds+=("$1") ;;
    esac
    shift
done
[ ${#builds[@]} -ge 2 ] || { echo "compare_builds.sh: give at least two kd builds" >&2; exit 2; }
for build in "${builds[@]}"; do
    [ -x "$build" ] || { echo "compare_builds.sh: $build is not an executable" >&2; exit 1; }
done

[ -f "$config" ] || { echo "compare_builds.sh: no config $config" >&2; exit 1; }

raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
for round in $(seq "$rounds"); do
    for build in "${builds[@]}"; do
        printf '%s ' "$build" >>"$raw"
        "$build" bench --config "$config" --mode train --batch "$batch" --seq "$seq" \
            --steps "$steps" --warmup 1 --threads "$threads" --json >>"$raw" ||
            { echo "compare_builds.sh: $build bench failed" >&2; exit 1; }
    done
done
/usr/bin/python3 - "$raw" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    build, result = line.split(" ", 1)
    runs.setdefault(build, []).append(json.loads(result))
print("| build | median tokens/s | fastest step ms | tokens/s per round |")
print("|---|---:|---:|---|")
for build, results in runs.items():
    rates = [round(r["tokens_per_s"]) for r in results]
    print("| %s | %.0f | %.0f | %s |" % (build, statistics.median(rates),
          min(r["step_ms_min"] for r in results), " ".join(map(str, rates))))
PY
