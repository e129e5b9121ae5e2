#!/usr/bin/env bash
# kill -9 lands in kd teacher cache at several points (timed, and exactly
# while a shard or the manifest is being written). After every kill no
# manifest claims a cache that is not complete: either there is none (and
# kd cache verify refuses the directory) or it verifies. Running the command
# again with --resume completes the cache, identical to one written without
# interruption.
# usage: cli_fault_kill_cache.sh KD ASSETS_DIR   (KD_MAKE_MODEL_DIR from ctest)
set -u
kd=$1
assets=$2
make_model=${KD_MAKE_MODEL_DIR:?run through ctest, which sets KD_MAKE_MODEL_DIR}
source "$(dirname "${BASH_SOURCE[0]}")/fault_common.sh"

write_train_fixture 1 1
# 256 records: a cache of about 50 shards of 4 examples, long enough to kill.
for copy in 0 1 2 3; do sed "s/Question \([0-9]*\)/Question \1.$copy/" "$work/data.jsonl"; done \
    >"$work/cache-data.jsonl"
sed -i "s|$work/data.jsonl|$work/cache-data.jsonl|" "$work/run.json"
"$make_model" "$work/run.json" "$work/teacher" "$assets/gpt2" 3 || { echo "FAIL: make_model_dir"; exit 1; }
cache=("$kd" teacher cache --model "$work/teacher" --config "$work/run.json" --topk 8
       --shard-examples 4 --out)
"${cache[@]}" "$work/straight" >/dev/null 2>"$work/straight.err" || { cat "$work/straight.err"; exit 1; }

out=$work/killed
triggers=(time:0.05 time:0.8 "$out/.shard-*.tmp-*" time:1.5 "$out/.shard-*.tmp-*"
          "$out/.manifest.json.tmp-*")
landed=0
for trigger in "${triggers[@]}"; do
    run_and_kill "$trigger" "$work/round.err" "${cache[@]}" "$out" --resume
    echo "kill at ${trigger#"$out/"}: exit $code"
    case $code in
    137) landed=$((landed + 1)) ;;
    0) ;;
    *) fail "kill at '$trigger': exit $code: $(cat "$work/round.err")" ;;
    esac
    if [ -e "$out/manifest.json" ]; then
        "$kd" cache verify "$out" >/dev/null 2>"$work/verify.err" ||
            fail "after the kill at '$trigger' a manifest claims a broken cache: $(cat "$work/verify.err")"
    elif [ -d "$out" ]; then
        "$kd" cache verify "$out" >/dev/null 2>"$work/verify.err"
        verified=$?
        [ "$verified" -eq 1 ] ||
            fail "after the kill at '$trigger' kd cache verify of a manifest-less cache exits $verified"
    fi
done
echo "cli_fault_kill_cache: $landed of ${#triggers[@]} kills landed"

"${cache[@]}" "$out" --resume >/dev/null 2>"$work/final.err" || fail "the rerun: $(cat "$work/final.err")"
"$kd" cache verify "$out" >/dev/null || fail "kd cache verify after the rerun"
for shard in "$work/straight"/shard-*.kdlc; do
    cmp -s "$shard" "$out/${shard##*/}" || fail "${shard##*/} differs from the uninterrupted cache"
done
[ "$(ls "$out" | wc -l)" -eq "$(ls "$work/straight" | wc -l)" ] ||
    fail "the rerun left other files: $(ls -A "$out")"
python3 - "$work/straight/manifest.json" "$out/manifest.json" <<'PY' ||
import json, sys
def lasting(path):  # what describes the cache, not how fast it was written
    with open(path) as f:
        m = json.load(f)
    return {k: m[k] for k in ("run_key", "identity", "encoding", "counts", "shards")}
sys.exit(lasting(sys.argv[1]) != lasting(sys.argv[2]))
PY
    fail "the manifests differ"
[ -z "$(find "$out" -name '*.tmp-*')" ] || fail "temporary files left behind: $(ls -A "$out")"
finish cli_fault_kill_cache
