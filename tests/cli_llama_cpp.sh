#!/usr/bin/env bash
# kd's GGUF files in llama.cpp, a runtime kd did not write: the prebuilt
# llama.cpp of the npm package node-llama-cpp (tests/llama_cpp, installed by
# `npm install --omit=optional --prefix tests/llama_cpp`; without it this test
# fails). A small model trained here on the dolly records is exported as
# f32, f16, q8_0 and q4_0, and llama.cpp loads each:
#   - it tokenizes dolly text, Unicode and whitespace runs to kd's ids;
#   - its greedy continuations from the f32 and f16 files equal kd generate
#     on the source directory, for prompts whose top-2 logit margin is clear;
#   - on q8_0 and q4_0, kd reading the same file agrees with it on at least
#     99% of next-token argmaxes over 2,000 positions of held-out dolly text
#     (teacher forcing), and kd's q8_0 agrees with kd's f32 on 99%.
# usage: cli_llama_cpp.sh KD ASSETS_DIR   (KD_TEACHER_FORCING from ctest)
set -u
. "$(dirname "$0")/support/cli_common.sh" "$@"
. "$(dirname "$0")/support/llama_cpp_common.sh"

llama_cpp_base
model=$work/teacher/model
for type in f32 f16 q8_0 q4_0; do
    expect 0 export --model "$model" --out "$work/$type.gguf" --type $type
done

# Tokenization: the same ids for dolly text, Unicode and whitespace runs.
python3 - "$assets/dolly/dolly-mixed.jsonl" "$work/texts.json" <<'PY'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")][-8:]
texts = [r["instruction"] + "\n\n" + r["response"] for r in records]
texts += ["naïve café, Zürich — 東京 🦉 ½", "  leading, two  spaces\t\ttabs\n\n\nnewlines   ",
          "numbers 12345 and 3.14159, I'm, you're, it's", "<|endoftext|> is text here"]
json.dump(texts, open(sys.argv[2], "w"), ensure_ascii=False)
PY
llama tokenize "$work/f32.gguf" "$work/texts.json" >"$work/llama_ids.json" ||
    fail "llama.cpp could not tokenize"
python3 - "$kd" "$assets/gpt2" "$work/texts.json" "$work/llama_ids.json" "$work" <<'PY' ||
import json, subprocess, sys
kd, vocab, texts, llama, work = sys.argv[1:]
bad = 0
for i, (text, ids) in enumerate(zip(json.load(open(texts)), json.load(open(llama)))):
    open(f"{work}/text", "w", encoding="utf-8").write(text)
    out = subprocess.run([kd, "tokenize", "--vocab", vocab, "--file", f"{work}/text"],
                         capture_output=True, text=True, check=True).stdout
    if list(map(int, out.split())) != ids:
        print(f"text {i} {text[:40]!r}: kd {out.split()[:12]}, llama.cpp {ids[:12]}")
        bad += 1
sys.exit(bad > 0)
PY
    fail "llama.cpp and kd tokenize differently"

# Greedy continuations, f32 and f16, against kd generate on the directory:
# prompts in the training template (raw), whose continuations the model
# has an opinion about; compared where the top-2 margin stays clear.
llama_cpp_prompts
for type in f32 f16; do
    llama_cpp_greedy_check "$type" "$work/$type.gguf" "$model"
done

# Teacher forcing over 2,000 positions of held-out dolly records.
llama_cpp_sequences
"$forcing" "$model" "$work/sequences" >"$work/argmax_dir" || fail "teacher_forcing on the directory"
# Agreement means nothing if the model predicts one token everywhere (a
# smaller model trained less did); this one, like any young language model,
# spreads its argmaxes over a few frequent tokens.
distinct=$(tr -s ' \n' '\n\n' <"$work/argmax_dir" | sort -u | wc -l)
echo "the f32 model's 2000 argmaxes hold $distinct distinct tokens"
[ "$distinct" -ge 5 ] || fail "only $distinct distinct argmaxes: the model is too weak to compare"
for type in q8_0 q4_0; do
    "$forcing" "$work/$type.gguf" "$work/sequences" >"$work/argmax_kd_$type" ||
        fail "teacher_forcing on $type.gguf"
    llama argmax "$work/$type.gguf" "$work/sequences" >"$work/argmax_llama_$type" ||
        fail "llama.cpp argmax on $type.gguf"
    share=$(agreement "$work/argmax_kd_$type" "$work/argmax_llama_$type")
    echo "$type: kd and llama.cpp agree on $share of 2000 argmaxes"
    python3 -c "import sys; sys.exit(not $share >= 0.99)" ||
        fail "$type: kd and llama.cpp agree on only $share of the argmaxes"
done
share=$(agreement "$work/argmax_kd_q8_0" "$work/argmax_dir")
echo "kd q8_0 and kd f32 agree on $share of 2000 argmaxes"
python3 -c "import sys; sys.exit(not $share >= 0.99)" ||
    fail "kd's q8_0 agrees with its f32 on only $share of the argmaxes"

cli_finish
