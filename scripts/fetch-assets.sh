#!/usr/bin/env bash
# Downloads what kd's full-size recipe (configs/distilgpt2-dolly.json) needs
# from the Hugging Face Hub and checks every file:
#   DEST/distilgpt2/{config.json,model.safetensors,vocab.json,merges.txt}
#   DEST/gpt2/{vocab.json,merges.txt}          (the same GPT-2 tokenizer)
#   DEST/databricks-dolly-15k.jsonl
# The tokenizer files are checked against SHA-256 sums pinned here. The large
# files (weights, data) are stored on the Hub with Git LFS, which publishes
# each file's SHA-256 and size (the X-Linked-Etag and X-Linked-Size headers);
# the download must match them, and the data must hold 15011 records. The
# sums are written to DEST/SHA256SUMS (check later with `sha256sum -c`).
# Downloads resume where they stopped; files already correct are kept.
#
# usage: scripts/fetch-assets.sh [DEST]   (default: $KD_ASSETS, else ./assets)
#        KD_HUB_URL overrides https://huggingface.co (e.g. a mirror).
set -u
dest=${1:-${KD_ASSETS:-assets}}
hub=${KD_HUB_URL:-https://huggingface.co}
model_url="$hub/distilbert/distilgpt2/resolve/main"
data_url="$hub/datasets/databricks/databricks-dolly-15k/resolve/main"
vocab_sha256=196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783
merges_sha256=1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5
dolly_records=15011

die() { echo "fetch-assets: $*" >&2; exit 1; }
command -v curl >/dev/null || die "curl is missing (apt-get install -y curl)"
command -v sha256sum >/dev/null || die "sha256sum is missing (coreutils)"

if ! reason=$(curl -sS --fail --max-time 20 -o /dev/null -I "$model_url/config.json" 2>&1); then
    cat >&2 <<EOF
fetch-assets: cannot reach $hub ($reason).
This machine looks offline. kd reads its assets from a local folder instead:
\$KD_ASSETS if set, else ./assets, else the repository's assets/. Copy the
files listed at the top of this script there from a connected machine (or run
this script there and copy DEST over), then set KD_ASSETS=/path/to/assets.
The demo (make demo) needs only gpt2/vocab.json, gpt2/merges.txt and the dolly
records, which the repository carries in assets/.
EOF
    exit 1
fi
mkdir -p "$dest/distilgpt2" "$dest/gpt2" || die "cannot create $dest"

# header URL NAME: a response header of a HEAD request (empty when absent).
header() {
    curl -sS --fail -I -L --max-time 30 "$1" | tr -d '\r' |
        awk -v name="$(echo "$2" | tr 'A-Z' 'a-z')" -F': ' 'tolower($1) == name {v = $2} END {print v}'
}

# fetch URL FILE SHA256: downloads (resuming) unless FILE already has SHA256,
# then checks it. SHA256 "lfs" takes the Hub's published hash and size; "none"
# (a small file the Hub keeps in git, without a SHA-256) is checked by content
# afterwards.
fetch() {
    local url=$1 file=$2 want=$3 size=""
    if [ "$want" = none ] && [ -f "$file" ]; then
        echo "ok       $file (already here)"
        return
    fi
    if [ "$want" = lfs ]; then
        want=$(header "$url" X-Linked-Etag | tr -d '"')
        size=$(header "$url" X-Linked-Size)
        [ ${#want} -eq 64 ] || die "$url: the Hub published no SHA-256 for it"
    fi
    if [ -f "$file" ] && [ "$(sha256sum "$file" | cut -d' ' -f1)" = "$want" ]; then
        echo "ok       $file (already here)"
        return
    fi
    echo "download $url"
    curl -sS --fail -L --retry 3 -C - -o "$file.part" "$url" || die "$url: download failed"
    if [ -n "$size" ] && [ "$(stat -c %s "$file.part")" != "$size" ]; then
        die "$file: $(stat -c %s "$file.part") bytes, the Hub says $size (run again to resume)"
    fi
    local got
    got=$(sha256sum "$file.part" | cut -d' ' -f1)
    if [ "$want" != none ] && [ "$got" != "$want" ]; then
        rm -f "$file.part"
        die "$file: SHA-256 $got, expected $want (removed; run again)"
    fi
    mv "$file.part" "$file"
    echo "ok       $file ($(stat -c %s "$file") bytes, sha256 $got)"
}

fetch "$model_url/config.json" "$dest/distilgpt2/config.json" none
fetch "$model_url/vocab.json" "$dest/distilgpt2/vocab.json" "$vocab_sha256"
fetch "$model_url/merges.txt" "$dest/distilgpt2/merges.txt" "$merges_sha256"
fetch "$model_url/model.safetensors" "$dest/distilgpt2/model.safetensors" lfs
fetch "$data_url/databricks-dolly-15k.jsonl" "$dest/databricks-dolly-15k.jsonl" lfs
cp "$dest/distilgpt2/vocab.json" "$dest/distilgpt2/merges.txt" "$dest/gpt2/" ||
    die "cannot copy the tokenizer into $dest/gpt2"

grep -q '"n_layer": *6' "$dest/distilgpt2/config.json" &&
    grep -q '"n_embd": *768' "$dest/distilgpt2/config.json" ||
    die "$dest/distilgpt2/config.json is not distilgpt2's (6 layers, 768 wide)"
records=$(wc -l <"$dest/databricks-dolly-15k.jsonl")
[ "$records" -eq "$dolly_records" ] ||
    die "$dest/databricks-dolly-15k.jsonl has $records records, expected $dolly_records"
(cd "$dest" && sha256sum distilgpt2/* gpt2/* databricks-dolly-15k.jsonl >SHA256SUMS) ||
    die "cannot write $dest/SHA256SUMS"
echo "fetch-assets: done; use them with KD_ASSETS=$dest (or keep them in ./assets)"
