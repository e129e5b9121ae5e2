# What the llama.cpp checks share, sourced after cli_common.sh: llama.cpp
# through the npm package node-llama-cpp (tests/llama_cpp; without it the
# check fails, never skips), prompts and held-out sequences from the dolly
# records, greedy continuations compared with kd generate, and the share of
# equal argmaxes.
# $forcing is kd's teacher-forcing tool (tests/tools/teacher_forcing.c).
forcing=${KD_TEACHER_FORCING:?run through ctest, which sets KD_TEACHER_FORCING}
cli_need_assets gpt2/vocab.json dolly/dolly-open_qa.jsonl dolly/dolly-mixed.jsonl
llama_cpp_here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ -d "$llama_cpp_here/llama_cpp/node_modules/node-llama-cpp" ] || {
    echo "FAIL: node-llama-cpp is not installed: npm install --omit=optional --prefix tests/llama_cpp"
    exit 1
}
llama() { node "$llama_cpp_here/llama_cpp/check.mjs" "$@"; }

# llama_cpp_base: trains $work/teacher/model, a small model that has learnt
# something (2 layers, 128 wide, 300 steps on 1,200 open_qa records), so that
# argmaxes are not ties; $work/run.json is its config.
llama_cpp_shape='{"n_layer": 2, "n_head": 2, "n_embd": 128, "n_positions": 128, "vocab_size": 50257}'
llama_cpp_base() {
    head -n 1200 "$assets/dolly/dolly-open_qa.jsonl" >"$work/data.jsonl"
    cli_dolly_config run "$llama_cpp_shape" 300 100 ""
    expect 0 teacher train --config "$work/run.json" --out "$work/teacher"
}

# llama_cpp_prompts: $work/prompts.json, 12 dolly questions in the training
# template (raw), and $work/prompt_ids.json, their ids by kd's tokenizer.
llama_cpp_prompts() {
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
}

# llama_cpp_greedy_check NAME GGUF MODEL_DIR: llama.cpp's 8 greedy tokens on
# GGUF after each prompt equal kd generate's on MODEL_DIR, wherever the
# top-2 margin stays clear (at least 2 prompts); $work/greedy_NAME.json
# keeps llama.cpp's answers.
llama_cpp_greedy_check() {
    local name=$1 gguf=$2 model_dir=$3 compared=0
    llama greedy "$gguf" "$work/prompt_ids.json" 8 >"$work/greedy_$name.json" ||
        { fail "llama.cpp greedy on $name failed"; return; }
    for i in $(seq 0 11); do
        margin=$(json "$work/greedy_$name.json" "d[$i]['margin']")
        python3 -c "import sys; sys.exit(not $margin > 0.05)" || continue
        prompt=$(json "$work/prompts.json" "d[$i] + '|'")  # keeps the final newline
        prompt=${prompt%|}
        expect 0 generate --model "$model_dir" --prompt "$prompt" --raw --temperature 0 \
            --max-new-tokens 8
        want=$(cat "$work/out")
        got=$(json "$work/greedy_$name.json" "d[$i]['text']")
        [ "$got" = "$want" ] || fail "$name: prompt $i: llama.cpp '$got', kd '$want'"
        compared=$((compared + 1))
    done
    echo "$name: $compared of 12 prompts had a clear margin; their greedy tokens agree"
    [ "$compared" -ge 2 ] || fail "$name: only $compared prompts had a clear top-2 margin"
}

# llama_cpp_sequences: $work/sequences, 20 lines of 100 ids from held-out
# dolly responses, for teacher forcing over 2,000 positions.
llama_cpp_sequences() {
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
}

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
