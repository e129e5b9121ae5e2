#!/usr/bin/env bash
# kd export and GGUF models in kd eval, kd generate and kd bench: the export of a
# random model directory as f32 and f16, read back by kd with the same loss
# and greedy text as the directory; q8_0 and q4_0 exports run quantized with
# the loss and text of the directory quantized in memory; a file written by tests/gguf_writer.py
# (not kd's writer: other key order and types, extra keys, other alignments,
# the output matrix present or absent, f16 position embedding) read alike;
# --force; --help; a damaged file refused in one line naming it; and an
# export cut short by a file-size limit leaves no file behind.
# usage: cli_export.sh KD ASSETS_DIR
. "$(dirname "$0")/support/cli_common.sh" "$@"
cli_need_assets gpt2/vocab.json dolly/dolly-open_qa.jsonl
here=$(dirname "$0")
"$KD_MAKE_MODEL_DIR" "$here/../configs/student-tiny.json" "$work/model" "$assets/gpt2" 11 ||
    { echo "FAIL: make_model_dir"; exit 1; }
head -n 12 "$assets/dolly/dolly-open_qa.jsonl" >"$work/data.jsonl"

expect 0 export --help
for type in f32 f16 "4 bytes" "2 bytes"; do
    grep -q -- "$type" "$work/out" || fail "kd export --help does not mention '$type'"
done

expect 0 export --model "$work/model" --out "$work/f32.gguf" --type f32
expect 0 export --model "$work/model" --out "$work/f16.gguf"
expect 1 export --model "$work/model" --out "$work/f16.gguf"
grep -q -- "--force" "$work/err" || fail "a second export should name --force: $(cat "$work/err")"
expect 0 export --model "$work/model" --out "$work/f16.gguf" --force
expect 2 export --model "$work/model" --out "$work/x.gguf" --type q2_k

python3 "$here/gguf_writer.py" "$work/model" "$work/other.gguf" --alignment 64 --output ||
    fail "gguf_writer.py failed"
python3 "$here/gguf_writer.py" "$work/model" "$work/other16.gguf" --alignment 8 --f16 ||
    fail "gguf_writer.py --f16 failed"

# loss MODEL: kd eval's loss on the data, to 6 decimals.
loss() {
    expect 0 eval --model "$1" --data "$work/data.jsonl" --json
    json "$work/out" "'%.6f' % d['loss']"
}
# text MODEL: 12 greedy tokens after a fixed prompt.
text() {
    expect 0 generate --model "$1" --prompt "The owl said" --raw --temperature 0 \
        --max-new-tokens 12
    cat "$work/out"
}
want_loss=$(loss "$work/model")
want_text=$(text "$work/model")
[ -n "$want_text" ] || fail "the directory generated nothing"
for file in f32.gguf other.gguf; do
    [ "$(loss "$work/$file")" = "$want_loss" ] || fail "$file: loss differs from the directory's"
    [ "$(text "$work/$file")" = "$want_text" ] || fail "$file: greedy text differs"
done
# f16 matrices (and, in other16.gguf, f16 positions) change the loss a little.
for file in f16.gguf other16.gguf; do
    got=$(loss "$work/$file")
    python3 -c "import sys; sys.exit(abs($got - $want_loss) > 1e-3)" ||
        fail "$file: loss $got, the directory's $want_loss"
done

# q8_0 and q4_0 files run quantized, their blocks used in place: the same
# loss and text as the directory quantized in memory (--quantize), which
# makes ggml's blocks bit for bit.
for type in q8_0 q4_0; do
    expect 0 export --model "$work/model" --out "$work/$type.gguf" --type $type
    expect 0 eval --model "$work/model" --data "$work/data.jsonl" --json --quantize $type
    want=$(json "$work/out" "'%.6f' % d['loss']")
    [ "$(loss "$work/$type.gguf")" = "$want" ] || fail "$type.gguf: loss differs from --quantize $type"
    expect 0 generate --model "$work/model" --prompt "The owl said" --raw --temperature 0 \
        --max-new-tokens 12 --quantize $type
    [ "$(text "$work/$type.gguf")" = "$(cat "$work/out")" ] || fail "$type.gguf: greedy text differs"
    grep -q "($type)" "$work/err" || fail "$type.gguf did not run quantized: $(cat "$work/err")"
done
# kd bench times a file as stored.
for type in f16 q8_0; do
    expect 0 bench --model "$work/$type.gguf" --mode generate --seq 8 --new-tokens 4 --steps 1 \
        --warmup 0 --json
    want=$([ $type = f16 ] && echo f32 || echo $type)
    [ "$(json "$work/out" "d['weights']")" = "$want" ] || fail "bench on $type.gguf: $(cat "$work/out")"
done
expect 2 bench --model "$work/q8_0.gguf" --mode fwd
expect 1 eval --model "$work/q8_0.gguf" --data "$work/data.jsonl" --quantize q4_0
grep -q "holds q8_0 matrices" "$work/err" || fail "--quantize on a q8_0 file: $(cat "$work/err")"

# A damaged file: exit 1, one line naming the file and the problem.
head -c 100000 "$work/f32.gguf" >"$work/cut.gguf"
expect 1 eval --model "$work/cut.gguf" --data "$work/data.jsonl"
[ "$(wc -l <"$work/err")" -eq 1 ] || fail "more than one line for a cut file: $(cat "$work/err")"
grep -q "cut.gguf: .*truncated" "$work/err" || fail "the error should name the file: $(cat "$work/err")"
expect 1 generate --model "$work/cut.gguf" --prompt "x"

# A file-size limit (a full disk's effect) cuts the export short: exit 1,
# and neither the file nor a temporary file is left.
mkdir "$work/full"
(trap '' XFSZ; ulimit -f 4096; exec "$kd" export --model "$work/model" --out "$work/full/x.gguf" \
    --type f32) 2>"$work/err" >/dev/null
code=$?
[ "$code" -eq 1 ] || fail "an export past the size limit exited $code: $(cat "$work/err")"
grep -qi "too large" "$work/err" || fail "the error should say why: $(cat "$work/err")"
[ -z "$(ls -A "$work/full")" ] || fail "a cut export left files: $(ls -A "$work/full")"

cli_finish
