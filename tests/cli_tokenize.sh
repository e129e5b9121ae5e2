#!/usr/bin/env bash
# kd tokenize: exit codes (0 ok, 1 bad input, 2 usage) and exact round trips
# through ids with the real GPT-2 files.
#   bash tests/cli_tokenize.sh path/to/kd path/to/assets
set -u
KD=$1
VOCAB=$2/gpt2
failures=0
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect_exit CODE STDERR_PATTERN ARGS...: runs kd tokenize, checks the exit
# code and that stderr mentions the pattern.
expect_exit() {
    local code=$1 pattern=$2
    shift 2
    "$KD" tokenize "$@" >"$scratch/out" 2>"$scratch/err"
    local got=$?
    [ "$got" -eq "$code" ] || fail "tokenize $*: exit $got, expected $code"
    grep -q -- "$pattern" "$scratch/err" || fail "tokenize $*: stderr lacks '$pattern': $(cat "$scratch/err")"
}

if [ ! -f "$VOCAB/vocab.json" ]; then
    echo "FAIL: no GPT-2 files under $VOCAB"
    exit 1
fi

# Usage errors.
expect_exit 2 "--vocab is required" --text hi
expect_exit 2 "exactly one of --text and --file" --vocab "$VOCAB"
expect_exit 2 "exactly one of --text and --file" --vocab "$VOCAB" --text hi --file /dev/null
expect_exit 2 "unknown argument" --vocab "$VOCAB" --text hi --frobnicate
"$KD" tokenize --help >/dev/null || fail "--help did not exit 0"

# Bad input.
expect_exit 1 "vocab.json: cannot open" --vocab "$scratch/nowhere" --text hi
expect_exit 1 "'12x' (word 2) is not a token id" --vocab "$VOCAB" --decode --text "15496 12x"
expect_exit 1 "'-1' (word 1) is not a token id" --vocab "$VOCAB" --decode --text "-1"
expect_exit 1 "token id 50257" --vocab "$VOCAB" --decode --text "15496 50257"
expect_exit 1 "not a token id" --vocab "$VOCAB" --decode --text "99999999999999999999"
printf 'ok \x80 bad' >"$scratch/invalid.txt"
expect_exit 1 "invalid UTF-8 at byte offset 3" --vocab "$VOCAB" --file "$scratch/invalid.txt"
expect_exit 1 "missing.txt: cannot open" --vocab "$VOCAB" --file "$scratch/missing.txt"

# Known ids: one line, single spaces.
ids=$("$KD" tokenize --vocab "$VOCAB" --text "Hello world")
[ "$ids" = "15496 995" ] || fail "Hello world -> '$ids', expected '15496 995'"
[ "$("$KD" tokenize --vocab "$VOCAB" --text "" | od -An -c | tr -d ' ')" = '\n' ] ||
    fail "empty text should print an empty line"

# Round trip through the shell, as the help promises.
text="Tabs	and  spaces, \"quotes\", café, 漢字, 👨‍👩‍👧 — it's <|endoftext|> 1234567"
back=$("$KD" tokenize --vocab "$VOCAB" --decode --text "$("$KD" tokenize --vocab "$VOCAB" --text "$text")")
[ "$back" = "$text" ] || fail "round trip through --text changed the text: '$back'"

# Byte-exact round trip through files, trailing newlines and CRLF included.
printf 'line one\r\nline two\n\n  indented\t\n' >"$scratch/input.txt"
head -c 20000 "$2/dolly/dolly-mixed.jsonl" >>"$scratch/input.txt"
"$KD" tokenize --vocab "$VOCAB" --file "$scratch/input.txt" >"$scratch/ids.txt" || fail "encode --file"
[ "$(wc -l <"$scratch/ids.txt")" -eq 1 ] || fail "ids are not on one line"
"$KD" tokenize --vocab "$VOCAB" --decode --file "$scratch/ids.txt" >"$scratch/back.txt" || fail "decode --file"
cmp -s "$scratch/input.txt" "$scratch/back.txt" || fail "file round trip is not byte-exact"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "cli_tokenize: all checks passed"
