#!/usr/bin/env bash
# kd teacher cache under mpirun -np 2: the ranks compute disjoint shards and
# rank 0 writes the manifest; the shards are byte-identical to a single
# process's, kd cache verify passes, and a student trained from either
# cache is bit-identical. A rank killed mid-cache leaves no manifest, and a
# rerun keeps the shards already written.
# usage: cli_mpi_cache.sh KD ASSETS_DIR
set -u
kd=$1
assets=$2
source "$(dirname "${BASH_SOURCE[0]}")/support/mpi_common.sh"

write_mpi_fixture 5
"$kd" teacher train --config "$work/run.json" --out "$work/teacher" >/dev/null 2>&1 ||
    fail "the teacher did not train"
cache_args=(--model "$work/teacher/model" --topk 8 --shard-examples 4)
"$kd" teacher cache "${cache_args[@]}" --out "$work/single" >/dev/null 2>"$work/single.err" ||
    fail "the single-process cache failed"
mpi_kd 2 teacher cache "${cache_args[@]}" --out "$work/sharded" >"$work/sharded.out" \
    2>"$work/sharded.err" || fail "-np 2 cache: $(tail -n 3 "$work/sharded.err")"
[ "$(grep -c '^cache ' "$work/sharded.out")" -eq 1 ] ||
    fail "the cache summary is not printed exactly once: $(cat "$work/sharded.out")"
# Rank 0's progress counts its own shards' examples: fewer than all.
examples_done() { sed -n 's/.*teacher cache \([0-9]*\)\/\1 .*/\1/p' "$1" | tail -n 1; }
[ "$(examples_done "$work/sharded.err")" -lt "$(examples_done "$work/single.err")" ] ||
    fail "rank 0 computed every shard: $(grep 'teacher cache' "$work/sharded.err" | tail -n 1)"
shards=$(cd "$work/single" && ls shard-*.kdlc)
[ "$(echo "$shards" | wc -l)" -ge 4 ] || fail "too few shards to share: $shards"
for shard in $shards; do
    cmp -s "$work/single/$shard" "$work/sharded/$shard" || fail "$shard differs"
done
"$kd" cache verify "$work/sharded" >/dev/null 2>&1 || fail "kd cache verify rejects the sharded cache"

python3 - "$work/run.json" "$work/student.json" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    config = json.load(f)
config["model"]["n_layer"] = 1
config["distill"] = {"alpha": 0.5, "temperature": 2.0}
with open(sys.argv[2], "w") as f:
    json.dump(config, f)
PY
for cache in single sharded; do
    "$kd" student train --config "$work/student.json" --cache "$work/$cache" \
        --out "$work/student-$cache" >/dev/null 2>&1 || fail "the student from $cache failed"
done
# config.json names the cache; everything the student learnt is the same.
for file in model/model.safetensors last/model.safetensors last/optimizer.safetensors samples.md; do
    cmp -s "$work/student-single/$file" "$work/student-sharded/$file" ||
        fail "the students' $file differ"
done

# kill -9 of rank 1 once a shard is written: no manifest; the rerun keeps it.
out=$work/killed
ASAN_OPTIONS=$mpi_asan timeout -k 5 120 mpirun -np 2 --oversubscribe "$kd" teacher cache "${cache_args[@]}" \
    --out "$out" --threads 1 >/dev/null 2>&1 &
launcher=$!
wait_for_new_file "$launcher" "$out/shard-*.kdlc"
ranks=($(pgrep -P "$(pgrep -P "$launcher" mpirun)"))
kill -9 "${ranks[1]}" 2>/dev/null
wait "$launcher"
[ -f "$out/manifest.json" ] && fail "a killed cache job left a manifest"
kept=$(cd "$out" && for f in shard-*.kdlc; do [ -e "$f" ] && stat -c '%n %i' "$f"; done)
[ -n "$kept" ] || fail "no shard was written before the kill"
mpi_kd 2 teacher cache "${cache_args[@]}" --out "$out" --resume >/dev/null 2>"$work/rerun.err" ||
    fail "the rerun failed: $(tail -n 3 "$work/rerun.err")"
while read -r name inode; do
    [ "$(stat -c %i "$out/$name")" = "$inode" ] || fail "$name was written again"
done <<<"$kept"
for shard in $shards; do
    cmp -s "$work/single/$shard" "$out/$shard" || fail "$shard differs after the rerun"
done
"$kd" cache verify "$out" >/dev/null 2>&1 || fail "kd cache verify rejects the rerun's cache"
finish cli_mpi_cache
