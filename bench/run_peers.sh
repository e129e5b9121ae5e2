#!/usr/bin/env bash
# Runs kd bench and the PyTorch peer (../shared/peers/torch_gpt2.py) alternately
# on the same machine, for the student (S), teacher (T) and distilgpt2 (D)
# shapes, and prints tokens/s and peak RSS of both with their ratio.
#
#   bench/run_peers.sh [--kd build/kd] [--modes "train fwd"] [--shapes "S T D"]
#                      [--rounds 2] [--steps 5] [--warmup 2] [--threads 2]
#                      [--batch 4] [--seq 256] [--raw FILE] [--precisions "fp32 bf16"]
#                      [--peer ../shared/peers/torch_gpt2.py]
#
# Each precision runs both engines: fp32 is kd --precision fp32 against plain
# PyTorch; bf16 is kd --precision bf16 against PyTorch under
# torch.autocast("cpu", dtype=torch.bfloat16) (the peer's --bf16). bf16 rows
# are labelled "<shape>-bf16", and a last table sets kd bf16 beside kd fp32
# and PyTorch bf16. On a CPU without native bf16 pass --precisions fp32 (kd
# refuses bf16 there).
#
# Each round runs kd then torch for every shape and mode, so slow drifts of a
# shared machine hit both; the table shows the median over rounds and, less
# sensitive to other processes, the ratio of the fastest steps. Every JSON
# line is kept in --raw FILE (default build/peers-raw.txt).
#
# PyTorch gets the BLAS it picks by itself (the table names the OpenBLAS core
# both used): on an AVX-512 CPU that Debian's OpenBLAS does not know, export
# OPENBLAS_CORETYPE=SkylakeX before running this script.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
kd=$root/build/kd
peer=$root/../shared/peers/torch_gpt2.py
python=/usr/bin/python3
modes="train fwd"
shapes="S T D"
rounds=2 steps=5 warmup=2 threads=2 batch=4 seq=256
precisions="fp32 bf16"
raw=$root/build/peers-raw.txt

while [ $# -gt 0 ]; do
    case $1 in
    --kd) kd=$2 ;;
    --modes) modes=$2 ;;
    --shapes) shapes=$2 ;;
    --rounds) rounds=$2 ;;
    --steps) steps=$2 ;;
    --warmup) warmup=$2 ;;
    --threads) threads=$2 ;;
    --batch) batch=$2 ;;
    --seq) seq=$2 ;;
    --raw) raw=$2 ;;
    --precisions) precisions=$2 ;;
    --peer) peer=$2 ;;
    *) echo "run_peers.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift 2
done
[ -x "$kd" ] || { echo "run_peers.sh: $kd not built" >&2; exit 1; }
[ -f "$peer" ] || { echo "run_peers.sh: $peer not found" >&2; exit 1; }
: >"$raw"

config_of() {
    case $1 in
    S) echo "$root/configs/student-tiny.json" ;;
    T) echo "$root/configs/teacher-tiny.json" ;;
    D) echo "$root/configs/distilgpt2.json" ;;
    *) echo "run_peers.sh: unknown shape $1 (S, T or D)" >&2; exit 2 ;;
    esac
}

# "--layers L --embd C --heads H" from a kd config's "model" object.
torch_shape() {
    "$python" -c 'import json, sys
m = json.load(open(sys.argv[1]))["model"]
print("--layers %d --embd %d --heads %d --vocab %d" % (m["n_layer"], m["n_embd"], m["n_head"], m["vocab_size"]))' "$1"
}

# The row label: the shape, with "-bf16" for bf16 runs.
label_of() { # shape precision
    if [ "$2" = fp32 ]; then echo "$1"; else echo "$1-$2"; fi
}

run_kd() { # shape config mode precision
    printf '%s kd ' "$(label_of "$1" "$4")" >>"$raw"
    "$kd" bench --config "$2" --mode "$3" --batch "$batch" --seq "$seq" \
        --steps "$steps" --warmup "$warmup" --threads "$threads" --precision "$4" --json >>"$raw"
}

run_torch() { # shape config mode precision
    printf '%s torch ' "$(label_of "$1" "$4")" >>"$raw"
    local autocast=""
    [ "$4" = bf16 ] && autocast=--bf16
    # shellcheck disable=SC2046
    "$python" "$peer" --mode "$3" $(torch_shape "$2") --batch "$batch" \
        --seq "$seq" --steps "$steps" --warmup "$warmup" --threads "$threads" $autocast >>"$raw"
}

# What OpenBLAS's sgemm alone reaches at the shape's products this round
# (bench_sgemm_peak, median of 3), as one JSON line, so that each training
# round can be read against the "sgemm-rate step": the step time of an
# engine whose every matrix product ran at that rate and whose other work
# cost nothing.
sgemm_peak=$(dirname "$kd")/bench_sgemm_peak
# kd's head runs equal chunks of at most HEAD_MAX_ROWS rows; read, not copied.
head_max_rows=$(sed -n 's/^enum { HEAD_MAX_ROWS = \([0-9]*\) };$/\1/p' "$root/src/nn/nn_limits.h")
run_sgemm() { # shape config
    [ -x "$sgemm_peak" ] && [ -n "$head_max_rows" ] || return 0
    local embd tokens chunks rows timings
    embd=$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["model"]["n_embd"])' "$2")
    tokens=$((batch * seq))
    chunks=$(((tokens + head_max_rows - 1) / head_max_rows))
    rows=$(((tokens + chunks - 1) / chunks))
    # A size bench_sgemm_peak refuses (it says why) costs this round its
    # second table, not the whole comparison.
    if ! timings=$("$sgemm_peak" "$embd" "$rows" "$tokens" "$threads" 3); then
        echo "run_peers.sh: no sgemm timings for $1 this round" >&2
        return 0
    fi
    printf '%s sgemm ' "$1" >>"$raw"
    "$python" -c 'import json, re, sys
products = {}
for line in sys.argv[2].splitlines():
    m = re.match(r"(\S.*?)\s+(\d+) x\s+(\d+) x\s+(\d+)\s+([\d.]+) ms", line)
    if m:
        products[m.group(1)] = {"gflop": 2e-9 * int(m.group(2)) * int(m.group(3)) * int(m.group(4)),
                                "ms": float(m.group(5))}
print(json.dumps({"mode": "sgemm", "rows": int(sys.argv[1]), "products": products}))' \
        "$rows" "$timings" >>"$raw"
}

# Odd rounds run kd first, even rounds torch first, so neither engine always
# gets the cooler (or the warmer) machine.
for round in $(seq "$rounds"); do
    for shape in $shapes; do
        config=$(config_of "$shape")
        case " $modes " in *" train "*) run_sgemm "$shape" "$config" ;; esac
        for mode in $modes; do
            for precision in $precisions; do
                echo "round $round: $shape $mode $precision" >&2
                if [ $((round % 2)) -eq 1 ]; then
                    run_kd "$shape" "$config" "$mode" "$precision"
                    run_torch "$shape" "$config" "$mode" "$precision"
                else
                    run_torch "$shape" "$config" "$mode" "$precision"
                    run_kd "$shape" "$config" "$mode" "$precision"
                fi
            done
        done
    done
done

"$python" - "$raw" <<'EOF'
import collections, json, statistics, sys
runs = collections.defaultdict(list)
cores = {}
for line in open(sys.argv[1]):
    shape, engine, text = line.split(" ", 2)
    result = json.loads(text)
    runs[(shape, result["mode"], engine)].append(result)
    cores[engine] = result.get("blas_core") or result.get("openblas_core")

def best_step_ms(result):
    return result["step_ms_min"] if "step_ms_min" in result else result["min_step_s"] * 1e3

print("| shape | mode | kd tokens/s | torch tokens/s | kd / torch | kd / torch, paired"
      " | kd / torch, best steps | kd peak RSS MB | torch peak RSS MB |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
round_ratios = []
pairs = dict.fromkeys((s, m) for s, m, engine in runs if engine != "sgemm")
for shape, mode in pairs:
    kd, torch = runs[(shape, mode, "kd")], runs[(shape, mode, "torch")]
    kd_tps = statistics.median(r["tokens_per_s"] for r in kd)
    torch_tps = statistics.median(r["tokens_per_s"] for r in torch)
    # Round i's kd and torch runs ran next to each other: their ratio
    # cancels the machine's slower drifts, which the medians above do not.
    paired = [k["tokens_per_s"] / t["tokens_per_s"] for k, t in zip(kd, torch)]
    round_ratios.append("%s %s: %s" % (shape, mode, " ".join("%.2f" % r for r in paired)))
    best_ratio = min(best_step_ms(r) for r in torch) / min(best_step_ms(r) for r in kd)
    print("| %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.0f | %.0f |" % (
        shape, mode, kd_tps, torch_tps, kd_tps / torch_tps, statistics.median(paired),
        best_ratio, max(r["peak_rss_mb"] for r in kd), max(r["peak_rss_mb"] for r in torch)))
print("\ntokens/s: median over %d round(s) of each run's median step; paired: median of the"
      " rounds' own kd / torch ratios; best steps: ratio of the fastest single steps."
      "\nOpenBLAS core: kd %s, torch %s.\nkd / torch by round: %s" % (
      len(next(iter(runs.values()))), cores.get("kd"), cores.get("torch"),
      "; ".join(round_ratios)))

def product_rate(products, names):
    """GFLOP/s of the named products taken together (total FLOP / total time)."""
    return (sum(products[n]["gflop"] for n in names) /
            sum(products[n]["ms"] for n in names) * 1e3)

def sgemm_rate_step_ms(sgemm, kd):
    """A training step whose head products ran at the rate measured for them,
    every other product at c_fc's, and whose non-matrix work cost nothing."""
    products = sgemm["products"]
    tokens = kd["batch"] * kd["seq"]
    head_gflop = 3 * 2e-9 * kd["n_embd"] * kd["vocab_size"] * tokens
    body_gflop = kd["model_flops_per_token"] * tokens * 1e-9 - head_gflop
    head_rate = product_rate(products, ["head logits", "head dhidden", "head dwte"])
    body_rate = product_rate(products, ["mlp c_fc"])
    return 1e3 * (head_gflop / head_rate + body_gflop / body_rate), head_rate, body_rate

# Rounds pair up by position, so a shape whose sgemm timing failed in some
# round gets no second-table row rather than a row matched to the wrong round.
rated = [s for s, m in pairs if m == "train" and
         len(runs[(s, "sgemm", "sgemm")]) == len(runs[(s, "train", "kd")])]
if rated:
    print("\n| shape | sgemm GFLOP/s, head / c_fc | sgemm-rate step ms | kd step ms"
          " | torch step ms | kd speed / sgemm-rate speed | torch step / sgemm-rate step |")
    print("|---|---:|---:|---:|---:|---:|---:|")
for shape in rated:
    kd, torch = runs[(shape, "train", "kd")], runs[(shape, "train", "torch")]
    rounds = [(sgemm_rate_step_ms(s, k), k["step_ms"], t["median_step_s"] * 1e3)
              for s, k, t in zip(runs[(shape, "sgemm", "sgemm")], kd, torch)]
    median = statistics.median
    print("| %s | %.0f / %.0f | %.0f | %.0f | %.0f | %.2f | %.2f |" % (
        shape, median(b[1] for b, _, _ in rounds), median(b[2] for b, _, _ in rounds),
        median(b[0] for b, _, _ in rounds), median(k for _, k, _ in rounds),
        median(t for _, _, t in rounds), median(b[0] / k for b, k, _ in rounds),
        median(t / b[0] for b, _, t in rounds)))
if rated:
    print("\nsgemm-rate step: every matrix product of a training step at the rate"
          " bench_sgemm_peak measured for its shape in the same round, all other work"
          " free. kd reaching 1.00 means its step costs no more than its matrix products;"
          " torch step / sgemm-rate step is about the largest kd / torch any engine"
          " doing these products on this BLAS could show in that round. Medians over"
          " rounds.")

# The bf16 column: kd bf16 against kd fp32 and against PyTorch's autocast,
# each a median of the rounds' tokens/s.
bf16 = [(s[:-len("-bf16")], m) for s, m in pairs if s.endswith("-bf16")]
if bf16:
    print("\n| shape | mode | kd fp32 tokens/s | kd bf16 tokens/s | kd bf16 / kd fp32"
          " | torch bf16 tokens/s | kd bf16 / torch bf16 | kd bf16 peak RSS MB"
          " | torch bf16 peak RSS MB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
def median_tps(key):
    return statistics.median(r["tokens_per_s"] for r in runs[key]) if runs[key] else float("nan")
for shape, mode in bf16:
    kd32 = median_tps((shape, mode, "kd"))
    kd16 = median_tps((shape + "-bf16", mode, "kd"))
    torch16 = median_tps((shape + "-bf16", mode, "torch"))
    print("| %s | %s | %.0f | %.0f | %.2f | %.0f | %.2f | %.0f | %.0f |" % (
        shape, mode, kd32, kd16, kd16 / kd32, torch16, kd16 / torch16,
        max(r["peak_rss_mb"] for r in runs[(shape + "-bf16", mode, "kd")]),
        max(r["peak_rss_mb"] for r in runs[(shape + "-bf16", mode, "torch")])))
EOF
