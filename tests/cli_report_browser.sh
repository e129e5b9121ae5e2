#!/usr/bin/env bash
# report.html in a real browser: kd report on a teacher and four students of
# one size (their points coincide on the size charts), then Debian's
# chromium, headless, takes screenshots of the page at a desktop and a phone
# width. Each must have the window's size and show the page (not a blank
# one), and the browser must log no console message and fetch nothing but
# the page itself. A probe page with a console.error and a missing image
# first proves that both checks see what they look for.
# usage: cli_report_browser.sh KD ASSETS_DIR   (KD_MAKE_MODEL_DIR from ctest)
set -u
. "$(dirname "$0")/support/cli_common.sh" "$@"
. "$(dirname "$0")/support/report_fixture.sh"
cli_need_assets gpt2/vocab.json
browser=$(command -v chromium) || { echo "FAIL: chromium is missing (apt-get install chromium)"; exit 1; }
check_png="$(dirname "$0")/support/check_png.py"

# screenshot PAGE PNG WIDTH HEIGHT: the browser's log goes to PNG.log.
screenshot() {
    HOME=$work timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --no-first-run --window-size="$3,$4" --screenshot="$2" --enable-logging=stderr --v=1 \
        "file://$1" >"$2.log" 2>&1
}

# page_problems LOG PAGE: console messages, and files fetched besides PAGE.
page_problems() {
    grep -E ':CONSOLE' "$1"
    grep -o 'FileURLLoader::Start: [^ ]*' "$1" | grep -v "Start: file://$2\$"
}

printf '<!DOCTYPE html><html><body><p>probe</p><script>console.error("kd-probe")</script><img src="missing.png"></body></html>' >"$work/probe.html"
screenshot "$work/probe.html" "$work/probe.png" 400 300 || fail "chromium failed on the probe page"
page_problems "$work/probe.png.log" "$work/probe.html" | grep -q "kd-probe" ||
    fail "the console check does not see a console.error"
page_problems "$work/probe.png.log" "$work/probe.html" | grep -q "missing.png" ||
    fail "the fetch check does not see a fetched image"

report_fixture_teacher
report_fixture_student "$work/runs/students/tiny-kd" 5 0 "$(report_fixture_distill 0.5 32 0)"
report_fixture_student "$work/runs/students/tiny-sampled" 7 0.01 "$(report_fixture_distill 0.5 8 16)"
report_fixture_student "$work/runs/students/tiny-alpha" 8 0.02 "$(report_fixture_distill 0.2 32 0)"
report_fixture_student "$work/runs/students/tiny-baseline" 6 0.1
expect 0 report --teacher "$work/runs/teacher" --student "$work/runs/students/tiny-kd" \
    --student "$work/runs/students/tiny-sampled" --student "$work/runs/students/tiny-alpha" \
    --student "$work/runs/students/tiny-baseline" --out "$work/report" --repeats 1 \
    --rouge-examples 2
page=$work/report/report.html
[ -s "$page" ] || fail "kd report wrote no report.html"

for size in 1280x2400 412x900; do
    width=${size%x*} height=${size#*x}
    png=$work/report-$size.png
    screenshot "$page" "$png" "$width" "$height" || fail "chromium failed on report.html at $size"
    python3 "$check_png" "$png" "$width" "$height" || fail "the $size screenshot is wrong"
    problems=$(page_problems "$png.log" "$page")
    [ -z "$problems" ] || fail "report.html at $size: $problems"
done
[ -n "${KD_SCREENSHOT:-}" ] && cp "$work/report-1280x2400.png" "$KD_SCREENSHOT"

cli_finish
