#!/usr/bin/env bash
# Where kd finds its assets with no variable set: the repository's assets/
# from any working directory, ./assets first, KD_ASSETS alone when set, an
# installed kd's <prefix>/share/kd/assets, and a relative data path that an
# unrelated ./assets lacks still found in the repository's.
. "$(dirname "$0")/support/cli_common.sh" "$@"
cli_need_assets gpt2/vocab.json gpt2/merges.txt dolly/dolly-mixed.jsonl
unset KD_ASSETS
repo_assets=$(cd "$assets" && pwd -P)

# assets_of [ENV...] -- KD: the directory `kd version` reports, run in $work/cwd.
assets_of() {
    (cd "$work/cwd" && env "$@" version | sed -n 's/^assets //p')
}
mkdir -p "$work/cwd"
got=$(assets_of "$kd")
[ "$got" = "$repo_assets" ] || fail "from another directory kd found '$got', not $repo_assets"

mkdir -p "$work/cwd/assets"
got=$(assets_of "$kd")
[ "$got" = "$(cd "$work/cwd/assets" && pwd -P)" ] || fail "./assets should come first, got '$got'"

mkdir -p "$work/mine"
got=$(assets_of KD_ASSETS="$work/mine" "$kd")
[ "$got" = "$work/mine" ] || fail "KD_ASSETS should win, got '$got'"
got=$(assets_of KD_ASSETS="$work/absent" "$kd")
case $got in none*) ;; *) fail "a KD_ASSETS that does not exist gave '$got'" ;; esac

# An installed kd: <prefix>/bin/kd finds <prefix>/share/kd/assets before the
# source tree it was built from.
mkdir -p "$work/prefix/bin" "$work/prefix/share/kd/assets"
cp "$kd" "$work/prefix/bin/kd"
rmdir "$work/cwd/assets"
got=$(assets_of "$work/prefix/bin/kd")
[ "$got" = "$(cd "$work/prefix/share/kd/assets" && pwd -P)" ] ||
    fail "an installed kd should find <prefix>/share/kd/assets, got '$got'"

# Relative data and tokenizer paths resolve through the search, and an empty
# ./assets does not hide the repository's files.
mkdir -p "$work/cwd/assets"
cat >"$work/cwd/run.json" <<'JSON'
{"model": {"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 64, "vocab_size": 50257},
 "train": {"max_steps": 2, "batch_size": 2, "seq_len": 32, "threads": 1},
 "data": {"files": ["dolly/dolly-mixed.jsonl"], "tokenizer": "gpt2"}}
JSON
(cd "$work/cwd" && "$kd" estimate --config run.json --json >"$work/out" 2>"$work/err") ||
    fail "kd estimate with assets-relative paths: $(tail -c 400 "$work/err")"
(cd "$work/cwd" && KD_ASSETS="$work/mine" "$kd" estimate --config run.json >/dev/null 2>"$work/err") &&
    fail "KD_ASSETS without the files should be refused"
grep -q "KD_ASSETS=$work/mine" "$work/err" || fail "the refusal should name KD_ASSETS: $(cat "$work/err")"
cli_finish
