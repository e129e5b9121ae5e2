#!/usr/bin/env bash
# --zero 1 under mpirun -np 2: AdamW's moments sharded over the ranks give
# the losses and weights of --zero 0 (to 1e-5); its checkpoint holds the
# whole moments, so one process resumes it and ends where the unsharded run
# does; --zero takes 0 or 1.
# usage: cli_mpi_zero.sh KD ASSETS_DIR
set -u
kd=$1
assets=$2
source "$(dirname "${BASH_SOURCE[0]}")/support/mpi_common.sh"

write_mpi_fixture 20
mpi_kd 2 teacher train --config "$work/run.json" --out "$work/zero0" >/dev/null 2>&1 ||
    fail "the --zero 0 run failed"
mpi_kd 2 teacher train --config "$work/run.json" --out "$work/zero1" --zero 1 >/dev/null \
    2>"$work/zero1.err" || fail "the --zero 1 run failed: $(tail -n 3 "$work/zero1.err")"
close_runs "$work/zero0" "$work/zero1"
cmp -s "$work/zero0/last/optimizer.safetensors" "$work/zero1/last/optimizer.safetensors" ||
    fail "the checkpoint of --zero 1 does not hold the moments of --zero 0"

mpi_kd 2 teacher train --config "$work/run.json" --out "$work/half" --zero 1 --stop-after 10 \
    >/dev/null 2>&1 || fail "the --zero 1 run with --stop-after 10 failed"
"$kd" teacher train --config "$work/run.json" --out "$work/half" --resume >"$work/half.out" \
    2>&1 || fail "one process cannot resume a --zero 1 checkpoint: $(tail -n 3 "$work/half.out")"
close_runs "$work/zero0" "$work/half"

"$kd" teacher train --config "$work/run.json" --out "$work/bad" --zero 2 >/dev/null 2>&1
[ $? -eq 2 ] || fail "--zero 2 is not a usage error"
finish cli_mpi_zero
