#!/usr/bin/env bash
# kd teacher train when it cannot write: an output path under a file, a run
# directory turned read-only, files capped by RLIMIT_FSIZE, and a tmpfs that
# fills up. Each time the run fails with exit 1 and a last line that names
# the file and the cause, the checkpoint and best model written before stay
# intact and loadable, no half-written checkpoint is left, and once writing
# works again --resume finishes the run exactly as an uninterrupted one.
# The read-only and tmpfs cases need chmod to bind a non-root user, or root
# to mount; where neither holds they are skipped (and say so).
# usage: cli_fault_disk.sh KD ASSETS_DIR
set -u
kd=$1
assets=$2
source "$(dirname "${BASH_SOURCE[0]}")/fault_common.sh"

write_train_fixture 8 4
train() { "$kd" teacher train --config "$work/run.json" --out "$@"; }
train "$work/straight" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }

# expect_write_failure CODE DIR CAUSE: the run failed as it should: exit 1,
# and a last line that names a path in DIR and says CAUSE.
expect_write_failure() {
    local code=$1 dir=$2 cause=$3 last
    last=$(tail -n 1 "$work/err")
    [ "$code" -eq 1 ] || fail "$dir: exit $code, expected 1: $last"
    case $last in
    "kd teacher train: "*"$dir"*) ;;
    *) fail "the error should name a path in $dir: $last" ;;
    esac
    grep -qi "$cause" <<<"$last" || fail "the error should say '$cause': $last"
}

# started DIR: a run stopped after step 4, with a copy of it in DIR.saved.
started() {
    train "$1" --stop-after 4 >/dev/null 2>"$work/err" || fail "$1: the first 4 steps failed"
    cp -a "$1" "$1.saved"
}

# intact DIR: the checkpoint is still that of step 4, no half-written one
# is left beside it, and the best model loads.
intact() {
    diff -r "$1.saved/last" "$1/last" >/dev/null || fail "$1/last changed"
    [ ! -e "$1/last.new" ] || fail "$1/last.new, a half-written checkpoint, was left behind"
    "$kd" eval --model "$1/model" --data "$work/eval.jsonl" >/dev/null 2>&1 ||
        fail "kd eval cannot read $1/model"
}

# finished DIR: --resume completes the run, equal to the uninterrupted one.
finished() {
    train "$1" --resume >/dev/null 2>"$work/err" || fail "$1: --resume: $(tail -n 1 "$work/err")"
    same_run "$work/straight" "$1"
}

# A file where the run directory should be.
touch "$work/file"
train "$work/file/run" >/dev/null 2>"$work/err"
expect_write_failure $? "$work/file" "not a directory"

# A run directory that becomes read-only: chmod for a user, a read-only bind
# mount for root (who writes through any mode).
ro=$work/readonly
started "$ro"
chmod -R a-w "$ro"
if ! touch "$ro/probe" 2>/dev/null; then
    protected=chmod
elif rm -f "$ro/probe" && mount --bind "$ro" "$ro" 2>/dev/null; then
    mounts+=("$ro")
    mount -o remount,bind,ro "$ro" 2>/dev/null && protected=mount
fi
if [ -n "${protected:-}" ]; then
    train "$ro" --resume >/dev/null 2>"$work/err"
    expect_write_failure $? "$ro/" "Read-only file system"
    [ "$protected" = mount ] && umount "$ro"
    chmod -R u+w "$ro"
    intact "$ro"
    diff -r "$ro.saved/model" "$ro/model" >/dev/null || fail "$ro/model changed"
    finished "$ro"
else
    echo "skipped the read-only directory: chmod does not bind this user and mount failed"
    chmod -R u+w "$ro"
fi

# Files capped at 8 MB (RLIMIT_FSIZE; SIGXFSZ ignored so the write fails with
# EFBIG): at step 8 the best model's weights (6.5 MB) are written, but not
# the checkpoint's optimizer state (13 MB).
capped=$work/capped
started "$capped"
(trap '' XFSZ; ulimit -f 8192; exec "$kd" teacher train --config "$work/run.json" --out "$capped" \
    --resume) >/dev/null 2>"$work/err"
expect_write_failure $? "$capped/" "File too large"
intact "$capped"
finished "$capped"

# A 40 MB tmpfs: the model and checkpoint of step 4 fit, the checkpoint of
# step 8 beside them does not. Growing the file system frees the space.
mkdir "$work/disk"
if mount -t tmpfs -o size=40m kd-fault-test "$work/disk" 2>/dev/null; then
    mounts+=("$work/disk")
    full=$work/disk/run
    train "$full" >/dev/null 2>"$work/err"
    expect_write_failure $? "$full" "No space left on device"
    grep -Eq '"step":[[:space:]]*4,' "$full/last/state.json" || fail "the step 4 checkpoint is gone"
    [ ! -e "$full/last.new" ] || fail "$full/last.new, a half-written checkpoint, was left behind"
    "$kd" eval --model "$full/model" --data "$work/eval.jsonl" >/dev/null 2>&1 ||
        fail "kd eval cannot read $full/model"
    mount -o remount,size=200m "$work/disk"
    finished "$full"
else
    echo "skipped the full tmpfs: mount failed (not root)"
fi
finish cli_fault_disk
