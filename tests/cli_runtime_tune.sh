#!/usr/bin/env bash
# What kd_runtime_tune does to a process's environment, read back through
# `kd version`: with nothing set, idle OpenMP threads spin KD_OMP_SPINCOUNT
# times before sleeping; a user's GOMP_SPINCOUNT, OMP_WAIT_POLICY or
# OPENBLAS_CORETYPE is kept as it is.
. "$(dirname "$0")/support/cli_common.sh" "$@"
spin=$(sed -n 's/^#define KD_OMP_SPINCOUNT "\([0-9]*\)"$/\1/p' "$(dirname "$0")/../include/kd/core.h")
[ -n "$spin" ] || fail "KD_OMP_SPINCOUNT not found in include/kd/core.h"

# version_line KEY [ENV...]: the value `kd version` prints for KEY, run with
# the wait variables removed and then ENV added.
version_line() {
    local key=$1
    shift
    env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY -u KD_RUNTIME_TUNED "$@" "$kd" version |
        sed -n "s/^$key //p"
}

got=$(version_line omp_wait)
[ "$got" = "GOMP_SPINCOUNT=$spin" ] || fail "with nothing set kd should spin $spin times, got '$got'"
got=$(version_line omp_wait GOMP_SPINCOUNT=123)
[ "$got" = "GOMP_SPINCOUNT=123" ] || fail "a user's GOMP_SPINCOUNT should be kept, got '$got'"
got=$(version_line omp_wait OMP_WAIT_POLICY=PASSIVE)
[ "$got" = "OMP_WAIT_POLICY=PASSIVE" ] || fail "a user's OMP_WAIT_POLICY should be kept alone, got '$got'"
got=$(version_line blas_core OPENBLAS_CORETYPE=Haswell)
[ "$got" = "Haswell" ] || fail "a user's OPENBLAS_CORETYPE should win, got '$got'"
# The re-executed process must not re-execute again, whatever it inherits.
got=$(version_line omp_wait KD_RUNTIME_TUNED=1)
[ "$got" = "libgomp default" ] || fail "an already tuned process changed its wait to '$got'"
cli_finish
