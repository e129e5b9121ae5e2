#!/usr/bin/env bash
# Distil, quantize, or both, measured in one kd report: the teacher and
# students of a pipeline run (by default make demo's runs/demo), each also
# exported as q8_0 and q4_0 GGUF files and measured from them. Prints the
# machine, the report's wall time with and without the quantized rows, and
# one line per row: bytes on disk, peak RSS, prefill and generation tokens/s,
# validation loss and its change against fp32, top-1 agreement with the
# teacher and with fp32, ROUGE-L; every line with the load it was taken
# under, so figures from a busy machine can be told from quiet ones.
#
#   bench/quant_report.sh [KD] [RUN_DIR] [REPEATS]
set -eu
KD=${1:-build/kd}
RUN=${2:-runs/demo}
REPEATS=${3:-3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

students=()
for dir in "$RUN"/students/*/; do
  students+=(--student "${dir%/}")
done
[ -d "$RUN/teacher/model" ] && [ "${#students[@]}" -gt 0 ] ||
  { echo "$RUN holds no teacher and students: run make demo first" >&2; exit 1; }
load() { uptime | sed 's/.*load average: //'; }
flags=$(lscpu | sed -n 's/^Flags: *//p' | tr ' ' '\n' | grep -E '^(avx2|fma|f16c|avx512f|avx512bw|avx512_vnni|avx_vnni)$' | tr '\n' ' ')
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cpus ($flags); kd $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $(date -u +%F)"

for types in none q8_0,q4_0; do
  start=$(date +%s.%N)
  "$KD" report --teacher "$RUN/teacher" "${students[@]}" --out "$WORK/report-$types" \
    --quantize "$types" --repeats "$REPEATS" --threads 2 >/dev/null 2>"$WORK/err" ||
    { cat "$WORK/err" >&2; exit 1; }
  end=$(date +%s.%N)
  printf 'kd report --quantize %-9s %7.1f s wall  load %s\n' "$types" \
    "$(echo "$end - $start" | bc)" "$(load)"
done

python3 - "$WORK/report-q8_0,q4_0/report.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
print("| model | type | MB on disk | peak RSS MB | prefill tok/s | generation tok/s | val loss "
      "| vs fp32 | agreement with teacher | agreement with fp32 | ROUGE-L |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
def number(value, format):
    return "-" if value is None else format % value
for m in report["models"]:
    print("| %s | %s | %.1f | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        m["name"], m["quantization"] or "fp32", m["file_bytes"] / 1e6,
        number(m["peak_rss_mb"], "%.1f"), number(m["prefill_tokens_per_s"], "%.0f"),
        number(m["gen_tokens_per_s"], "%.1f"), number(m["val_loss"], "%.4f"),
        number(m["val_loss_vs_fp32"], "%+.4f"), number(m["top1_agreement"], "%.4f"),
        number(m["top1_agreement_fp32"], "%.4f"), number(m["rouge_l"], "%.4f")))
PY
echo "load after: $(load)"
