#!/usr/bin/env bash
# scripts/fetch-assets.sh against a stand-in Hub on localhost that serves the
# real GPT-2 tokenizer files and small stand-ins for the weights and data,
# publishing SHA-256 and size headers as the Hub does for LFS files: every
# file lands and is checked, a second run keeps them, a corrupted download
# is refused, and an unreachable Hub gives the offline explanation.
# usage: cli_fetch_assets.sh KD ASSETS_DIR
set -u
assets=$2
script="$(cd "$(dirname "$0")/.." && pwd)/scripts/fetch-assets.sh"
command -v curl >/dev/null || { echo "FAIL: no curl (make deps installs it)"; exit 1; }
[ -f "$assets/gpt2/vocab.json" ] || { echo "FAIL: no GPT-2 tokenizer in $assets"; exit 1; }
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server"; rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

hub="$work/hub"
model="$hub/distilbert/distilgpt2/resolve/main"
data="$hub/datasets/databricks/databricks-dolly-15k/resolve/main"
mkdir -p "$model" "$data"
cp "$assets/gpt2/vocab.json" "$assets/gpt2/merges.txt" "$model/"
echo '{"n_layer": 6, "n_head": 12, "n_embd": 768, "vocab_size": 50257}' >"$model/config.json"
head -c 100000 /dev/urandom >"$model/model.safetensors"
for i in $(seq 15011); do echo "{\"instruction\": \"q$i\", \"response\": \"a\"}"; done \
    >"$data/databricks-dolly-15k.jsonl"

cat >"$work/hub.py" <<'PY'
import hashlib, http.server, os, sys
root = sys.argv[1]
class Hub(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=root, **kwargs)
    def end_headers(self):
        path = os.path.join(root, self.path.lstrip("/"))
        if os.path.isfile(path) and path.endswith((".safetensors", ".jsonl")):
            with open(path, "rb") as f:
                self.send_header("X-Linked-Etag", '"%s"' % hashlib.sha256(f.read()).hexdigest())
            self.send_header("X-Linked-Size", str(os.path.getsize(path)))
        super().end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
/usr/bin/python3 "$work/hub.py" "$hub" >"$work/port" &
server=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$work/port")"

KD_HUB_URL=$url bash "$script" "$work/assets" >"$work/out" 2>&1 || fail "fetch: $(cat "$work/out")"
for f in distilgpt2/config.json distilgpt2/model.safetensors distilgpt2/vocab.json \
    distilgpt2/merges.txt gpt2/vocab.json gpt2/merges.txt databricks-dolly-15k.jsonl SHA256SUMS; do
    [ -f "$work/assets/$f" ] || fail "missing $f"
done
(cd "$work/assets" && sha256sum -c --quiet SHA256SUMS) || fail "SHA256SUMS does not check"
cmp -s "$work/assets/distilgpt2/model.safetensors" "$model/model.safetensors" || fail "weights differ"

KD_HUB_URL=$url bash "$script" "$work/assets" >"$work/out" 2>&1 || fail "second run"
[ "$(grep -c "already here" "$work/out")" -eq 5 ] || fail "second run downloaded again: $(cat "$work/out")"

# The Hub's vocab.json is not GPT-2's: refused, nothing kept.
echo '{"x": 0}' >"$model/vocab.json"
rm "$work/assets/distilgpt2/vocab.json"
KD_HUB_URL=$url bash "$script" "$work/assets" >"$work/out" 2>&1 && fail "a wrong vocab.json was accepted"
grep -q "SHA-256" "$work/out" || fail "the mismatch is not named: $(cat "$work/out")"
[ -f "$work/assets/distilgpt2/vocab.json" ] && fail "the wrong vocab.json was kept"

# Offline: exit 1 and the explanation.
KD_HUB_URL=http://127.0.0.1:9 bash "$script" "$work/offline" >"$work/out" 2>&1 && fail "offline exit 0"
grep -q "KD_ASSETS" "$work/out" || fail "offline message lacks KD_ASSETS"

[ "$failures" -eq 0 ] && echo "ok"
exit $((failures > 0))
