#!/usr/bin/env bash
# A data-parallel run and its faults: kill -9 of one rank ends the whole job
# (no hang), and --resume with the same number of ranks then finishes
# bit-identical to a run never interrupted; a checkpoint of 2 ranks resumed
# by one process continues the same batches, says so, and ends where the
# uninterrupted run does (to 1e-5); ranks started with different configs
# or data stop at once with one line naming what differs.
# usage: cli_mpi_resume.sh KD ASSETS_DIR
set -u
kd=$1
assets=$2
source "$(dirname "${BASH_SOURCE[0]}")/support/mpi_common.sh"

write_mpi_fixture 20
mpi_kd 2 teacher train --config "$work/run.json" --out "$work/straight" >/dev/null 2>&1 ||
    fail "the uninterrupted -np 2 run failed"

# kill -9 of rank 1 once the first checkpoint is written.
out=$work/killed
started=$SECONDS
ASAN_OPTIONS=$mpi_asan timeout -k 5 120 mpirun -np 2 --oversubscribe "$kd" teacher train --config "$work/run.json" \
    --out "$out" >/dev/null 2>"$work/killed.err" &
launcher=$!
for _ in $(seq 1 6000); do
    [ -f "$out/last/state.json" ] && break
    kill -0 "$launcher" 2>/dev/null || break
    sleep 0.01
done
mpirun_pid=$(pgrep -P "$launcher" mpirun)
ranks=($(pgrep -P "$mpirun_pid"))
[ "${#ranks[@]}" -eq 2 ] || fail "expected 2 ranks under mpirun, found ${#ranks[@]}"
kill -9 "${ranks[1]}"
wait "$launcher"
code=$?
[ "$code" -ne 0 ] || fail "the job finished although a rank was killed (too fast to test?)"
# mpirun itself exits 137 (the killed rank's signal); timeout's limit is 120 s.
[ "$code" -ne 124 ] && [ $((SECONDS - started)) -lt 100 ] ||
    fail "the job hung after a rank was killed"
[ -f "$out/last/state.json" ] || fail "no checkpoint before the kill"
mpi_kd 2 teacher train --config "$work/run.json" --out "$out" --resume >/dev/null \
    2>"$work/resume.err" || fail "--resume after the kill: $(tail -n 3 "$work/resume.err")"
same_run "$work/straight" "$out"

# 2 ranks stop after step 10; one process continues.
mpi_kd 2 teacher train --config "$work/run.json" --out "$work/other" --stop-after 10 \
    >/dev/null 2>&1 || fail "the -np 2 run with --stop-after 10 failed"
"$kd" teacher train --config "$work/run.json" --out "$work/other" --resume >"$work/other.out" \
    2>&1 || fail "one process cannot resume the checkpoint of 2 ranks: $(tail -n 3 "$work/other.out")"
grep -q 'resuming a run of 2 rank(s) with 1' "$work/other.out" ||
    fail "resuming with another number of ranks does not say so: $(head -n 5 "$work/other.out")"
close_runs "$work/straight" "$work/other"

# Ranks with other settings (MPMD launch): one line, exit 1, no hang.
sed 's/"learning_rate": 0.003/"learning_rate": 0.002/' "$work/run.json" >"$work/other.json"
ASAN_OPTIONS=$mpi_asan timeout -k 5 120 mpirun --oversubscribe -np 1 "$kd" teacher train --config "$work/run.json" \
    --out "$work/mixed" : -np 1 "$kd" teacher train --config "$work/other.json" \
    --out "$work/mixed" >/dev/null 2>"$work/mixed.err"
code=$?
[ "$code" -eq 1 ] || fail "ranks with different configs exited $code: $(cat "$work/mixed.err")"
[ "$(grep -c 'do not agree on the run configuration' "$work/mixed.err")" -eq 1 ] ||
    fail "a config mismatch is not named once: $(cat "$work/mixed.err")"
[ -d "$work/mixed/last" ] && fail "ranks that disagree wrote a checkpoint"
finish cli_mpi_resume
