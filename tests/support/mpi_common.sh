# What the MPI test scripts (tests/cli_mpi_*.sh) share, sourced once the
# script has set kd and assets: fault_common.sh's work directory, fixture
# and run comparison, kd under mpirun on this machine, and the comparison of
# a data-parallel run with a single-process one.
source "$(dirname "${BASH_SOURCE[0]}")/../fault_common.sh"

# As root, Open MPI refuses to start without these; the ranks talk through
# shared memory on this machine.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
# Under AddressSanitizer the ranks skip the leak check: Open MPI keeps
# memory past MPI_Finalize in components it has unloaded by then, which
# LeakSanitizer can neither name nor suppress. The single-process runs of
# the same code keep it.
mpi_asan="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
command -v mpirun >/dev/null || { echo "FAIL: no mpirun (apt-get install openmpi-bin)"; exit 1; }

# mpi_kd NP ARGS...: kd with NP ranks, stopped after 120 s: a hang is a failure.
mpi_kd() {
    local ranks=$1
    shift
    ASAN_OPTIONS=$mpi_asan timeout -k 5 120 mpirun -np "$ranks" --oversubscribe "$kd" "$@"
}

# write_mpi_fixture STEPS: $work/data.jsonl and $work/run.json: a 2-layer
# model trained for STEPS steps of 2 micro-batches of 4 sequences, every
# step logged, an evaluation (and checkpoint) every 5 steps, in fp32: the
# 1e-5 agreement of N ranks with one process is fp32's (in bf16, auto's
# choice on a CPU with native bf16, a weight whose master copy differs in
# the last bit can round to another bf16 value, and the runs drift apart
# at bf16's precision; runs with the same N stay bit-identical).
write_mpi_fixture() {
    write_train_fixture "$1" 5
    python3 - "$work/run.json" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    config = json.load(f)
config["train"].update({"batch_size": 4, "grad_accum": 2, "log_every": 1, "threads": 1,
                        "precision": "fp32"})
with open(sys.argv[1], "w") as f:
    json.dump(config, f)
PY
}

# close_runs A B: the training losses of two run directories agree to 1e-5
# relative at every step, and their final weights to 1e-5 absolute. (Not
# relative to each tensor: the key biases, whose true gradient is zero in
# GPT-2's attention, move by AdamW steps driven by the rounding of their
# gradients, so their digits depend on the order of the sums.)
close_runs() {
    python3 - "$1" "$2" <<'PY' || fail "$1 and $2 differ by more than 1e-5"
import json, struct, sys
def losses(run):
    with open(run + "/metrics.jsonl") as f:
        rows = [json.loads(line) for line in f]
    return {(r["type"], r["step"]): r["train_loss"] for r in rows}
def tensors(run):
    with open(run + "/last/model.safetensors", "rb") as f:
        data = f.read()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + size])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        begin, end = t["data_offsets"]
        out[name] = struct.unpack("<%df" % ((end - begin) // 4), data[8 + size + begin:8 + size + end])
    return out
a, b = losses(sys.argv[1]), losses(sys.argv[2])
bad = a.keys() != b.keys() or len(a) < 20
for key in a.keys() & b.keys():
    if abs(a[key] - b[key]) > 1e-5 * abs(a[key]):
        print("loss at", key, a[key], b[key], file=sys.stderr)
        bad = True
ta, tb = tensors(sys.argv[1]), tensors(sys.argv[2])
bad = bad or ta.keys() != tb.keys()
for name in ta.keys() & tb.keys():
    worst = max(abs(x - y) for x, y in zip(ta[name], tb[name]))
    if worst > 1e-5:
        print("weights", name, "differ by", worst, file=sys.stderr)
        bad = True
sys.exit(bad)
PY
}
