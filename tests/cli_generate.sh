#!/usr/bin/env bash
# kd generate end to end: a random model directory with the real GPT-2
# tokenizer files; exit codes, determinism for a fixed seed, stdout holding
# only the continuation, and clear refusals.
# usage: cli_generate.sh KD ASSETS_DIR   (KD_MAKE_MODEL_DIR from ctest)
set -u
kd=$1
assets=$2
make_model=${KD_MAKE_MODEL_DIR:?run through ctest, which sets KD_MAKE_MODEL_DIR}
if [ ! -f "$assets/gpt2/vocab.json" ] || [ ! -f "$assets/gpt2/merges.txt" ]; then
    echo "FAIL: no GPT-2 tokenizer files in $assets/gpt2"
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect CODE ARGS...: runs kd generate, keeps stdout/stderr in $work/out, $work/err.
expect() {
    local want=$1
    shift
    "$kd" generate "$@" >"$work/out" 2>"$work/err"
    local got=$?
    [ "$got" -eq "$want" ] ||
        fail "kd generate $* exited $got, expected $want: $(head -c 300 "$work/err")"
}

cat >"$work/tiny.json" <<'JSON'
{"model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "n_positions": 64, "vocab_size": 50257}}
JSON
model="$work/model"
if ! "$make_model" "$work/tiny.json" "$model" "$assets/gpt2" 7; then
    echo "FAIL: make_model_dir"
    exit 1
fi

# Usage errors: 2.
expect 2
expect 2 --prompt "hi"
expect 2 --model "$model"
expect 2 --model "$model" --prompt "hi" --top-p 1.5
expect 2 --model "$model" --prompt "hi" --temperature -1
expect 2 --model "$model" --prompt "hi" --top-k x
expect 2 --model "$model" --prompt "hi" --bogus
expect 0 --help
grep -q -- "--max-new-tokens" "$work/out" || fail "--help does not list --max-new-tokens"

# Bad model directories: 1, with the cause on stderr.
expect 1 --model "$work/missing" --prompt "hi"
grep -q "config.json" "$work/err" || fail "missing directory: no mention of config.json"
mkdir "$work/no-tokenizer"
cp "$model/config.json" "$model/model.safetensors" "$work/no-tokenizer/"
expect 1 --model "$work/no-tokenizer" --prompt "hi"
grep -q "vocab.json" "$work/err" || fail "no tokenizer: no mention of vocab.json"
mkdir "$work/bad-config"
cp "$model"/* "$work/bad-config/"
echo '{"n_layer": 2,' >"$work/bad-config/config.json"
expect 1 --model "$work/bad-config" --prompt "hi"

# Prompts the model cannot take: 1.
expect 1 --model "$model" --raw --prompt ""
grep -q "empty" "$work/err" || fail "empty prompt: unclear message: $(cat "$work/err")"
long=$(printf 'word %.0s' $(seq 100))
expect 1 --model "$model" --raw --prompt "$long"
grep -q "n_positions = 64" "$work/err" || fail "long prompt: unclear message: $(cat "$work/err")"

# Success: same seed, same text; another seed, another text.
expect 0 --model "$model" --prompt "Name three colours." --seed 3 --max-new-tokens 20
cp "$work/out" "$work/first"
[ -s "$work/first" ] || fail "no text generated"
grep -q "tokens/s" "$work/err" || fail "no speed on stderr"
grep -q "kd generate" "$work/first" && fail "progress leaked into stdout"
expect 0 --model "$model" --prompt "Name three colours." --seed 3 --max-new-tokens 20
cmp -s "$work/first" "$work/out" || fail "seed 3 gave different text on a second run"
expect 0 --model "$model" --prompt "Name three colours." --seed 4 --max-new-tokens 20
cmp -s "$work/first" "$work/out" && fail "seeds 3 and 4 gave the same text"

# Fewer tokens with the same seed: a prefix of the longer text.
expect 0 --model "$model" --prompt "Name three colours." --seed 3 --max-new-tokens 5
case $(cat "$work/first") in
"$(cat "$work/out")"*) ;;
*) fail "--max-new-tokens 5 is not a prefix of --max-new-tokens 20" ;;
esac

# Greedy decoding ignores the seed; --top-k 1 is greedy too; --raw differs from the template.
expect 0 --model "$model" --prompt "Hello, my name is" --raw --temperature 0 --seed 1
cp "$work/out" "$work/greedy"
expect 0 --model "$model" --prompt "Hello, my name is" --raw --top-k 1 --seed 2
cmp -s "$work/greedy" "$work/out" || fail "--top-k 1 differs from --temperature 0"
expect 0 --model "$model" --prompt "Hello, my name is" --temperature 0
cmp -s "$work/greedy" "$work/out" && fail "the template made no difference to the prompt"

[ "$failures" -eq 0 ] && echo "cli_generate: all checks passed"
exit $((failures > 0))
