#!/usr/bin/env bash
# kd report diff on the fixture reports of tests/fixtures/report-diff:
# Markdown on stdout, the three files with --out, usage errors (2), and bad
# input (1, one line on stderr naming the file and the problem): another
# schema version, no model in common, a truncated file.
# usage: cli_report_diff.sh KD ASSETS_DIR   (KD_FIXTURES_DIR from ctest)
set -u
. "$(dirname "$0")/support/cli_common.sh" "$@"
fixtures=${KD_FIXTURES_DIR:?run through ctest, which sets KD_FIXTURES_DIR}/report-diff
a=$fixtures/a.json
b=$fixtures/b.json

# refuse_diff PATTERN ARGS...: expect_refusal, and nothing on stdout.
refuse_diff() {
    expect_refusal "$@"
    [ -s "$work/out" ] && fail "kd ${*:2}: a refused diff printed something"
}

expect 0 report diff --help
grep -q "report.json" "$work/out" || fail "--help lacks the usage"
expect 2 report diff "$a"
expect 2 report diff "$a" "$b" --bogus

expect 0 report diff "$a" "$b"
grep -qF "| tiny-kd | student | alpha | 0.5 | 0.2 |" "$work/out" || fail "the alpha change is not shown"
grep -qF "| tiny-kd | validation loss | 7.3699 | 7.3100 | -0.0599 |" "$work/out" ||
    fail "the loss change is not shown: $(grep "validation loss" "$work/out")"
expect 0 report diff "$a" "$b" --out "$work/diff"
for f in diff.md diff.json diff.html; do
    [ -s "$work/diff/$f" ] || fail "--out lacks $f"
done
json "$work/diff/diff.json" "len(d['settings']), d['b']" | grep -qx "3 $b" ||
    fail "diff.json: $(head -c 300 "$work/diff/diff.json")"
cmp -s "$work/out" "$work/diff/diff.md" || fail "stdout and diff.md differ"

sed 's/"schema_version": 2/"schema_version": 1/' "$b" >"$work/v1.json"
refuse_diff "$work/v1.json: schema version 1, but" report diff "$a" "$work/v1.json"
sed 's/"name": "/"name": "other-/' "$b" >"$work/renamed.json"
refuse_diff "$work/renamed.json: no model in common" report diff "$a" "$work/renamed.json"
head -c 1000 "$a" >"$work/truncated.json"
refuse_diff "$work/truncated.json:.*malformed JSON" report diff "$work/truncated.json" "$b"
refuse_diff "$work/missing.json" report diff "$a" "$work/missing.json"

cli_finish
