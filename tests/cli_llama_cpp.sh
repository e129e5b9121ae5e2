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
forcing=${KD_TEACHER_FORCING:?run through ctest, which sets KD_TEACHER_FORCING}
here=$(cd "$(dirname "$0")" && pwd)
cli_need_assets gpt2/vocab.json dolly/dolly-open_qa.jsonl dolly/dolly-mixed.jsonl
[ -d "$here/llama_cpp/node_modules/node-llama-cpp" ] || {
    echo "FAIL: node-llama-cpp is not installed: npm install --omit=optional --prefix tests/llama_cpp"
    exit 1
}
llama() { node "$here/llama_cpp/check.mjs" "$@"; }

# A small model that has learnt something (2 layers, 128 wide, 300 steps on
# 1,200 records), so that argmaxes are not ties.
head -n 1200 "$assets/dolly/dolly-open_qa.jsonl" >"$work/data.jsonl"
cli_dolly_config run '{"n_layer": 2, "n_head": 2, "n_embd": 128, "n_positions": 128, "vocab_size": 50257}' \
    300 100 ""
expect 0 teacher train --config "$work/run.json" --out "$work/teacher"
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
python3 - "$kd" "$assets/gpt2" "$assets/dolly/dolly-mixed.jsonl" "$work" <<'PY'
import json, subprocess, sys
kd, vocab, records, work = sys.argv[1:]
questions = [json.loads(line)["instruction"] for line in open(records, encoding="utf-8")][-60:-48]
prompts = [f"### Instruction:\n{q}\n\n### Response:\n" for q in questions]
ids = []
for prompt in prompts:
    open(f"{work}/text", "w", encoding="utf-8").write(prompt)
    ids.append(list(map(int, subprocess.run([kd, "tokenize", "--vocab", vocab, "--file",
                                              f"{work}/text"], capture_output=True, text=True,
                                             check=True).stdout.split())))
json.dump(prompts, open(f"{work}/prompts.json", "w"))
json.dump(ids, open(f"{work}/prompt_ids.json", "w"))
PY
for type in f32 f16; do
    llama greedy "$work/$type.gguf" "$work/prompt_ids.json" 8 >"$work/greedy_$type.json" ||
        { fail "llama.cpp greedy on $type failed"; continue; }
    compared=0
    for i in $(seq 0 11); do
        margin=$(json "$work/greedy_$type.json" "d[$i]['margin']")
        python3 -c "import sys; sys.exit(not $margin > 0.05)" || continue
        prompt=$(json "$work/prompts.json" "d[$i] + '|'")  # keeps the final newline
        prompt=${prompt%|}
        expect 0 generate --model "$model" --prompt "$prompt" --raw --temperature 0 \
            --max-new-tokens 8
        want=$(cat "$work/out")
        got=$(json "$work/greedy_$type.json" "d[$i]['text']")
        [ "$got" = "$want" ] || fail "$type: prompt $i: llama.cpp '$got', kd '$want'"
        compared=$((compared + 1))
    done
    echo "$type: $compared of 12 prompts had a clear margin; their greedy tokens agree"
    [ "$compared" -ge 2 ] || fail "$type: only $compared prompts had a clear top-2 margin"
done

# Teacher forcing over 2,000 positions of held-out dolly records.
tail -n 60 "$assets/dolly/dolly-mixed.jsonl" | python3 -c '
import json, sys
print("\n\n".join(json.loads(l)["response"] for l in sys.stdin))' >"$work/heldout.txt"
expect 0 tokenize --vocab "$assets/gpt2" --file "$work/heldout.txt"
python3 - "$work/out" "$work/sequences" <<'PY'
import sys
ids = open(sys.argv[1]).read().split()
assert len(ids) >= 2000, f"only {len(ids)} tokens"
with open(sys.argv[2], "w") as out:
    for start in range(0, 2000, 100):
        out.write(" ".join(ids[start:start + 100]) + "\n")
PY
# agreement A B: the share of equal ids in two files of argmax lines.
agreement() {
    python3 - "$1" "$2" <<'PY'
import sys
a = open(sys.argv[1]).read().split()
b = open(sys.argv[2]).read().split()
assert len(a) == len(b) == 2000, (len(a), len(b))
print(sum(x == y for x, y in zip(a, b)) / len(a))
PY
}
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
