#!/usr/bin/env bash
# kd teacher cache / kd cache verify / kd cache inspect end to end: a tiny
# teacher trained for one step on 40 real dolly records, its cache written,
# verified, inspected, refused when damaged, resumed, and redone for other data.
set -u
KD=$1
ASSETS=$2
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
for file in gpt2/vocab.json gpt2/merges.txt dolly/dolly-open_qa.jsonl dolly/dolly-mixed.jsonl; do
    [ -f "$ASSETS/$file" ] || fail "no $file in $ASSETS"
done

head -n 40 "$ASSETS/dolly/dolly-open_qa.jsonl" > "$WORK/data.jsonl"
head -n 30 "$ASSETS/dolly/dolly-mixed.jsonl" > "$WORK/other.jsonl"
cat > "$WORK/config.json" <<JSON
{"model": {"n_layer": 1, "n_head": 2, "n_embd": 32, "n_positions": 64, "vocab_size": 50257},
 "train": {"max_steps": 1, "batch_size": 4, "seq_len": 48, "eval_interval": 1, "eval_batches": 1,
           "seed": 5, "threads": 2, "validation_fraction": 0.25},
 "data": {"files": ["$WORK/data.jsonl"], "tokenizer": "$ASSETS/gpt2"}}
JSON
"$KD" teacher train --config "$WORK/config.json" --out "$WORK/teacher" > /dev/null 2>&1 \
  || fail "teacher train"

"$KD" teacher cache --help > /dev/null || fail "--help"
"$KD" teacher cache --out "$WORK/cache" > /dev/null 2>&1; [ $? -eq 2 ] || fail "missing --model is usage"

"$KD" teacher cache --model "$WORK/teacher/model" --out "$WORK/cache" --topk 8 --samples 4 \
  --shard-examples 8 > "$WORK/cache.out" 2> "$WORK/cache.err" || { cat "$WORK/cache.err"; fail "cache"; }
grep -q "bytes per token" "$WORK/cache.out" || fail "cache prints its stats"
[ -f "$WORK/cache/manifest.json" ] || fail "manifest written"
"$KD" cache verify "$WORK/cache" > "$WORK/verify.out" || fail "verify a good cache"
grep -q "^ok " "$WORK/verify.out" || fail "verify says ok"
"$KD" cache inspect "$WORK/cache" | grep -q "top-k mass" || fail "inspect prints the stats"
"$KD" cache inspect "$WORK/cache" --json | grep -q '"bytes_per_token"' || fail "inspect --json"

# The train split: 40 records less the validation quarter, all cached.
examples=$("$KD" cache inspect "$WORK/cache" | awk '/^examples/ {print $2}')
[ "$examples" -gt 20 ] && [ "$examples" -lt 40 ] || fail "train split size $examples"

# A second run over a complete cache is refused without --resume or --force;
# with --resume it leaves the cache as it is.
before=$(md5sum "$WORK/cache/shard-00000.kdlc")
"$KD" teacher cache --model "$WORK/teacher/model" --out "$WORK/cache" --topk 8 --samples 4 \
  --shard-examples 8 > /dev/null 2> "$WORK/rerun.err"; [ $? -eq 1 ] || fail "rerun without flags exits 1"
grep -q -- "--resume continues it, --force starts over" "$WORK/rerun.err" || fail "rerun names the flags"
"$KD" teacher cache --model "$WORK/teacher/model" --out "$WORK/cache" --topk 8 --samples 4 \
  --shard-examples 8 --resume --force > /dev/null 2>&1; [ $? -eq 2 ] || fail "--resume --force is usage"
"$KD" teacher cache --model "$WORK/teacher/model" --out "$WORK/cache" --topk 8 --samples 4 \
  --shard-examples 8 --resume > /dev/null 2>&1 || fail "rerun"
[ "$before" = "$(md5sum "$WORK/cache/shard-00000.kdlc")" ] || fail "rerun rewrote a shard"

# A flipped byte: verify exits 1 naming the shard.
cp "$WORK/cache/shard-00001.kdlc" "$WORK/saved.kdlc"
byte=$(od -An -tu1 -j100 -N1 "$WORK/cache/shard-00001.kdlc" | tr -d ' ')
printf "\\$(printf '%03o' $(( (byte + 1) % 256 )))" |
  dd of="$WORK/cache/shard-00001.kdlc" bs=1 seek=100 conv=notrunc status=none
cmp -s "$WORK/saved.kdlc" "$WORK/cache/shard-00001.kdlc" && fail "the byte did not change"
"$KD" cache verify "$WORK/cache" > /dev/null 2> "$WORK/verify.err"
[ $? -eq 1 ] || fail "verify of a damaged cache exits 1"
grep -q "shard-00001.kdlc" "$WORK/verify.err" || fail "verify names the shard"

# Interrupted: a shard and the manifest missing. --resume completes it.
rm "$WORK/cache/shard-00001.kdlc" "$WORK/cache/manifest.json"
"$KD" teacher cache --model "$WORK/teacher/model" --out "$WORK/cache" --topk 8 --samples 4 \
  --shard-examples 8 --resume > /dev/null 2> "$WORK/resume.err" || fail "resume"
grep -q "already cached, resuming" "$WORK/resume.err" || fail "resume keeps complete shards"
cmp -s "$WORK/saved.kdlc" "$WORK/cache/shard-00001.kdlc" || fail "resumed shard differs"
"$KD" cache verify "$WORK/cache" > /dev/null || fail "verify after resume"

# Other data: --resume cannot continue the cache, and leaves it as it is;
# --force redoes it.
before=$(md5sum "$WORK"/cache/*)
"$KD" teacher cache --model "$WORK/teacher/model" --data "$WORK/other.jsonl" --out "$WORK/cache" \
  --topk 8 --resume > /dev/null 2> "$WORK/other.err"; [ $? -eq 1 ] || fail "--resume of another plan exits 1"
grep -q -- "--force replaces it" "$WORK/other.err" || fail "--resume of another plan names --force"
[ "$before" = "$(md5sum "$WORK"/cache/*)" ] || fail "--resume of another plan changed the cache"
"$KD" teacher cache --model "$WORK/teacher/model" --data "$WORK/other.jsonl" --out "$WORK/cache" \
  --topk 8 --force > /dev/null 2>&1 || fail "redo for other data"
"$KD" cache verify "$WORK/cache" > /dev/null || fail "verify after redo"
"$KD" cache verify "$WORK/nowhere" > /dev/null 2>&1; [ $? -eq 1 ] || fail "missing cache exits 1"
echo "ok"
