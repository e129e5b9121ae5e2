# kd bench: exit codes for bad usage and bad input, and the JSON keys of a
# tiny run. Usage: bash cli_bench.sh PATH_TO_KD ASSETS_DIR
set -u
kd=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

expect_exit() {
    local want=$1 label=$2
    shift 2
    "$@" >"$work/out" 2>"$work/err"
    local got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL $label: exit $got, want $want; stderr:" >&2
        cat "$work/err" >&2
        failures=$((failures + 1))
    elif [ "$want" -ne 0 ] && [ ! -s "$work/err" ]; then
        echo "FAIL $label: exit $got without a message on stderr" >&2
        failures=$((failures + 1))
    fi
}

cat >"$work/tiny.json" <<'EOF'
{"model": {"n_layer": 2, "n_head": 2, "n_embd": 16, "n_positions": 32, "vocab_size": 97}}
EOF
echo '{"model": {"n_layer": 2, "n_head": 3, "n_embd": 16}}' >"$work/bad-shape.json"
echo '{"model": {"n_layer": 2,' >"$work/truncated.json"
echo '{"n_layer": 2}' >"$work/no-model.json"
echo '{"model": {"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 32, "vocab_size": 98}}' \
    >"$work/other-vocab.json"

expect_exit 0 "--help" "$kd" bench --help
expect_exit 2 "no --config" "$kd" bench --mode train
expect_exit 2 "no --mode" "$kd" bench --config "$work/tiny.json"
expect_exit 2 "unknown mode" "$kd" bench --config "$work/tiny.json" --mode sprint
expect_exit 2 "non-numeric --batch" "$kd" bench --config "$work/tiny.json" --mode train --batch x
expect_exit 2 "zero --steps" "$kd" bench --config "$work/tiny.json" --mode train --steps 0
expect_exit 1 "missing config file" "$kd" bench --config "$work/absent.json" --mode train
expect_exit 1 "truncated JSON" "$kd" bench --config "$work/truncated.json" --mode train
expect_exit 1 "no model object" "$kd" bench --config "$work/no-model.json" --mode train
expect_exit 1 "n_embd not divisible" "$kd" bench --config "$work/bad-shape.json" --mode train
expect_exit 1 "--seq past n_positions" "$kd" bench --config "$work/tiny.json" --mode train --seq 33
expect_exit 2 "kd without a teacher" "$kd" bench --config "$work/tiny.json" --mode kd
expect_exit 2 "kd with nothing cached" "$kd" bench --config "$work/tiny.json" --mode kd \
    --teacher-config "$work/tiny.json" --topk 0
expect_exit 1 "kd teacher of another vocabulary" "$kd" bench --config "$work/tiny.json" \
    --mode kd --teacher-config "$work/other-vocab.json"
expect_exit 1 "generate past n_positions" "$kd" bench --config "$work/tiny.json" \
    --mode generate --seq 16 --new-tokens 17
expect_exit 2 "generate at batch 2" "$kd" bench --config "$work/tiny.json" \
    --mode generate --batch 2
expect_exit 2 "batch 0" "$kd" bench --config "$work/tiny.json" --mode train --batch 0

# A tiny run in each mode prints one JSON object with the contract's keys.
for mode in train fwd kd generate; do
    batch=2
    [ $mode = generate ] && batch=1
    expect_exit 0 "tiny $mode" "$kd" bench --config "$work/tiny.json" --mode $mode \
        --teacher-config "$work/tiny.json" --batch $batch --seq 8 --new-tokens 8 --steps 3 \
        --warmup 1 --threads 1 --json
    if ! /usr/bin/python3 - "$work/out" "$mode" <<'EOF'; then
import json, sys
with open(sys.argv[1]) as f:
    result = json.load(f)
want = {"tokens_per_s", "step_ms", "peak_rss_mb", "threads", "blas_core", "n_layer", "n_embd",
        "n_head", "vocab_size", "batch", "seq", "mode", "model_gflops_per_s"}
missing = want - result.keys()
assert not missing, "missing keys: %s" % sorted(missing)
assert result["mode"] == sys.argv[2]
assert (result["n_layer"], result["n_embd"], result["n_head"], result["vocab_size"]) == (2, 16, 2, 97)
assert (result["batch"], result["seq"], result["threads"]) == (
    1 if result["mode"] == "generate" else 2, 8, 1)
assert result["tokens_per_s"] > 0 and result["step_ms"] > 0 and result["peak_rss_mb"] > 0
if result["mode"] == "kd":
    assert result["live_step_ms"] > 0 and result["ce_step_ms"] > 0 and result["topk"] == 32
if result["mode"] == "generate":
    assert result["prefill_tokens_per_s"] > 0 and result["new_tokens"] == 8
EOF
        echo "FAIL tiny $mode: bad JSON:" >&2
        cat "$work/out" >&2
        failures=$((failures + 1))
    fi
done

# The human table names the figures too.
expect_exit 0 "tiny table" "$kd" bench --config "$work/tiny.json" --mode fwd --batch 1 --seq 4 \
    --steps 1 --warmup 0
if ! grep -q "tokens/s" "$work/out"; then
    echo "FAIL tiny table: no tokens/s line" >&2
    failures=$((failures + 1))
fi

[ "$failures" -eq 0 ] && echo "cli_bench: all checks passed"
exit $((failures > 0))
