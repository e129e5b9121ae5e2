#!/usr/bin/env bash
# kd teacher train under mpirun -np 2: the same global batches as one
# process, so the same loss at every step of 20 (to 1e-5 relative) and the
# same final weights (to 1e-5); two -np 2 runs bit-identical, and so are
# sums overlapped with the backward pass (in buckets of one layer or of
# both) and sums after it; --bucket-mb refuses a negative size; rank 0 alone
# writes and prints; a student from a cache the same; other commands refuse
# mpirun; ranks that cannot share the batch fail with one line,
# never hang.
# usage: cli_mpi_train.sh KD ASSETS_DIR
set -u
kd=$1
assets=$2
source "$(dirname "${BASH_SOURCE[0]}")/support/mpi_common.sh"

write_mpi_fixture 20
"$kd" teacher train --config "$work/run.json" --out "$work/single" >"$work/single.out" 2>&1 ||
    fail "single process: $(tail -n 3 "$work/single.out")"
# Run b sums every layer as its own bucket (--bucket-mb 0), run a both
# layers of the fixture's model in one: the same additions either way.
for run in a b; do
    buckets=; [ "$run" = b ] && buckets="--bucket-mb 0"
    mpi_kd 2 teacher train --config "$work/run.json" --out "$work/np2$run" $buckets \
        >"$work/np2$run.out" 2>"$work/np2$run.err" ||
        fail "-np 2 run $run exited $?: $(tail -n 3 "$work/np2$run.err")"
done
close_runs "$work/single" "$work/np2a"
same_run "$work/np2a" "$work/np2b"
# Each layer's sums start during the backward pass (the default); after it
# (--no-overlap) they are the same additions: the same bits, with 2 ranks
# and with 4 (one sequence each, slices of unequal lengths).
mpi_kd 2 teacher train --config "$work/run.json" --out "$work/np2after" --no-overlap \
    >/dev/null 2>"$work/np2after.err" || fail "--no-overlap: $(tail -n 3 "$work/np2after.err")"
same_run "$work/np2a" "$work/np2after"
# With 3 layers in 3 buckets, the third waits for a slot (two fly at once).
python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); c["model"]["n_layer"] = 3
json.dump(c, open(sys.argv[2], "w"))' "$work/run.json" "$work/run3.json"
for mode in during after; do
    flag="--bucket-mb 0"; [ "$mode" = after ] && flag=--no-overlap
    mpi_kd 4 teacher train --config "$work/run3.json" --out "$work/np4$mode" --max-steps 6 $flag \
        >/dev/null 2>"$work/np4$mode.err" || fail "-np 4 $mode: $(tail -n 3 "$work/np4$mode.err")"
done
same_run "$work/np4during" "$work/np4after"
cmp -s "$work/single/last/model.safetensors" "$work/np2a/last/model.safetensors" &&
    fail "-np 2 wrote the single process's weights bit for bit: were the ranks used at all?"

# Rank 0 alone prints: one summary line, one epoch table.
[ "$(grep -c '^teacher: 20/20 steps' "$work/np2a.out")" -eq 1 ] ||
    fail "the summary line is not printed exactly once: $(cat "$work/np2a.out")"
grep -q '(rank ' "$work/np2a.err" && fail "a rank complained: $(cat "$work/np2a.err")"
[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["world_size"])' \
    "$work/np2a/last/state.json")" = 2 ] || fail "the checkpoint does not record 2 ranks"

# A student from the single process's cache: -np 2 follows the single run.
"$kd" teacher cache --model "$work/single/model" --out "$work/cache" --topk 8 >/dev/null 2>&1 ||
    fail "kd teacher cache failed"
python3 - "$work/run.json" "$work/student.json" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    config = json.load(f)
config["model"]["n_layer"] = 1
config["init"] = {"from": "teacher", "layers": [1]}
config["distill"] = {"alpha": 0.5, "temperature": 2.0}
with open(sys.argv[2], "w") as f:
    json.dump(config, f)
PY
"$kd" student train --config "$work/student.json" --cache "$work/cache" --out "$work/student1" \
    >/dev/null 2>"$work/student1.err" || fail "single student: $(tail -n 3 "$work/student1.err")"
mpi_kd 2 student train --config "$work/student.json" --cache "$work/cache" \
    --out "$work/student2" >/dev/null 2>"$work/student2.err" ||
    fail "-np 2 student: $(tail -n 3 "$work/student2.err")"
close_runs "$work/student1" "$work/student2"
mpi_kd 2 student train --config "$work/student.json" --cache "$work/cache" --no-overlap \
    --out "$work/student2after" >/dev/null 2>"$work/student2after.err" ||
    fail "-np 2 student --no-overlap: $(tail -n 3 "$work/student2after.err")"
same_run "$work/student2" "$work/student2after"

# 3 ranks cannot share batches of 4 sequences: one line, exit 1, no hang.
mpi_kd 3 teacher train --config "$work/run.json" --out "$work/np3" >/dev/null 2>"$work/np3.err"
code=$?
[ "$code" -ne 0 ] && [ "$code" -ne 124 ] && [ "$code" -ne 137 ] ||
    fail "-np 3 with batches of 4 exited $code: $(cat "$work/np3.err")"
grep -q 'batch_size must be a multiple of the number of ranks' "$work/np3.err" ||
    fail "-np 3 does not say why: $(cat "$work/np3.err")"
"$kd" teacher train --config "$work/run.json" --out "$work/negative" --bucket-mb -2 \
    >/dev/null 2>"$work/negative.err" && fail "--bucket-mb -2 was accepted"
grep -q 'counts must not be negative' "$work/negative.err" ||
    fail "--bucket-mb -2 does not say why: $(cat "$work/negative.err")"
# Commands that do not run data-parallel refuse mpirun with one line.
mpi_kd 2 version >/dev/null 2>"$work/version.err" && fail "kd version ran on 2 ranks"
[ "$(grep -c 'runs as one process' "$work/version.err")" -eq 1 ] ||
    fail "kd version under mpirun does not say why once: $(cat "$work/version.err")"
finish cli_mpi_train
