#!/usr/bin/env bash
# Length-grouped batches against plain shuffled ones on the demo: the same
# pipeline (configs/demo.json and the configs it names) run three times on
# one machine, one run after the other:
#   grouped   the configs as they are (train.group_by_length defaults to 1)
#   plain     train.group_by_length 0: every batch in random order
#   plain-s2  plain with train.seed + 1: another data order and initialisation,
#             whose losses against plain's show the run-to-run noise
# and a table of what each stage got: real training tokens/s and padding
# ratio (metrics.jsonl), the teacher cache's time, input tokens/s and padding
# ratio (manifest.json), validation losses (report.json) and wall time.
#
# usage: bench/grouping_bench.sh [--quick] [OUT_DIR]
#   --quick  teacher 60 steps, students 30 (the demo: 300 and 150), for a
#            first look; the speeds are the same measure, the losses are not
#            the demo's
#   OUT_DIR  default runs/grouping-bench; every run starts afresh there
# KD=path/to/kd picks the binary (default build/kd); RUNS="grouped plain"
# skips the noise run; THREADS=N replaces the configs' thread counts. The
# speeds are wall-clock: run it on a quiet machine. Each run's CPU seconds
# (user + system, all stages) are printed too; with THREADS=1 their ratio
# is the compute grouping saves, and it holds on a busy machine as well.
set -eu
cd "$(dirname "$0")/.."
quick=0
if [ "${1:-}" = --quick ]; then
    quick=1
    shift
fi
out=${1:-runs/grouping-bench}
kd=${KD:-build/kd}
runs=${RUNS:-grouped plain plain-s2}
threads=${THREADS:-0}
[ -x "$kd" ] || { echo "no $kd: build first (make build)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (Debian package time)" >&2; exit 1; }
mkdir -p "$out"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); $(date -u +%Y-%m-%d)"

# write_configs NAME GROUP SEED_STEP: $out/NAME/configs/, the demo's configs
# with train.group_by_length = GROUP and train.seed moved by SEED_STEP.
write_configs() {
    python3 - "$out/$1" "$2" "$3" "$quick" "$threads" <<'PY'
import json, os, sys
run, group, seed_step, quick = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
threads = int(sys.argv[5])
os.makedirs(run + "/configs", exist_ok=True)
demo = json.load(open("configs/demo.json"))
demo["out"] = os.path.abspath(run + "/pipeline")
if threads:
    demo["threads"] = threads
if quick:
    demo["teacher"]["max_steps"] = 60
    for student in demo["students"]:
        student["max_steps"] = 30
for config in [demo["teacher"]["config"]] + [s["config"] for s in demo["students"]]:
    settings = json.load(open("configs/" + config))
    settings["train"]["group_by_length"] = group
    settings["train"]["seed"] = settings["train"].get("seed", 1234) + seed_step
    if threads:
        settings["train"]["threads"] = threads
    json.dump(settings, open(run + "/configs/" + config, "w"), indent=1)
json.dump(demo, open(run + "/configs/demo.json", "w"), indent=1)
PY
}

for run in $runs; do
    case $run in
    grouped) write_configs "$run" 1 0 ;;
    plain) write_configs "$run" 0 0 ;;
    plain-s2) write_configs "$run" 0 1 ;;
    *) echo "unknown run $run" >&2; exit 2 ;;
    esac
    echo "== $run: $(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg)"
    start=$(date +%s.%N)
    /usr/bin/time -f "%U %S" -o "$out/$run/cpu" \
        "$kd" pipeline "$out/$run/configs/demo.json" --force >"$out/$run/pipeline.log" 2>&1 ||
        { tail -n 20 "$out/$run/pipeline.log"; exit 1; }
    end=$(date +%s.%N)
    echo "$start $end $(cut -d' ' -f1-3 /proc/loadavg)" >"$out/$run/wall"
    echo "   $(python3 -c "print(f'{$end - $start:.0f} s')") , load after $(cut -d' ' -f1-3 /proc/loadavg)"
done

python3 - "$out" $runs <<'PY'
import glob, json, os, sys
out, runs = sys.argv[1], sys.argv[2:]

def training(run_dir):
    rows = [json.loads(line) for line in open(run_dir + "/metrics.jsonl")]
    rows = [r for r in rows if "padding_ratio" in r and "tokens_per_s" in r]
    mean = lambda key: sum(r[key] for r in rows) / len(rows)
    return mean("tokens_per_s"), mean("padding_ratio"), rows[-1]["elapsed_s"]

figures = {}
for run in runs:
    p = out + "/" + run + "/pipeline"
    start, end = map(float, open(out + "/" + run + "/wall").read().split()[:2])
    user, system = map(float, open(out + "/" + run + "/cpu").read().split()[-2:])
    f = {"wall s": end - start, "cpu s": user + system}
    runs_dirs = {"teacher": p + "/teacher"}
    for d in sorted(glob.glob(p + "/students/*")):
        runs_dirs[os.path.basename(d)] = d
    for name, d in runs_dirs.items():
        tps, pad, elapsed = training(d)
        f[name + " tokens/s"] = tps
        f[name + " padding"] = pad
        f[name + " train s"] = elapsed
    manifest = json.load(open(p + "/cache/manifest.json"))
    s = manifest["stats"]
    f["cache s"] = manifest["counts"]["positions"] / s["write_tokens_per_s"]
    f["cache input tokens/s"] = s.get("teacher_input_tokens_per_s", float("nan"))
    f["cache padding"] = s.get("padding_ratio", float("nan"))
    for model in json.load(open(p + "/report/report.json"))["models"]:
        f[model["name"] + " val loss"] = model["val_loss"]
    figures[run] = f

keys = list(figures[runs[0]])
print("| figure | " + " | ".join(runs) + (" | grouped / plain |" if "plain" in runs and "grouped" in runs else " |"))
print("|---|" + "---:|" * (len(runs) + ("plain" in runs and "grouped" in runs)))
for key in keys:
    cells = []
    for run in runs:
        v = figures[run].get(key, float("nan"))
        cells.append(f"{v:.4f}" if "loss" in key or "padding" in key else f"{v:.0f}")
    line = f"| {key} | " + " | ".join(cells) + " |"
    if "plain" in runs and "grouped" in runs:
        g, pl = figures["grouped"].get(key), figures["plain"].get(key)
        if "loss" in key:
            line += f" {g - pl:+.4f} |"
        else:
            line += f" {g / pl:.2f}x |"
    print(line)
if "plain-s2" in runs and "plain" in runs:
    print()
    print("run-to-run noise (plain against plain-s2, another seed):")
    for key in keys:
        if "val loss" in key:
            print(f"  {key}: {figures['plain-s2'][key] - figures['plain'][key]:+.4f}")
PY
