#!/usr/bin/env bash
# libkd is a public C library with one namespace: every symbol it defines for
# other objects to link against starts with kd_. Compiler-made symbols (the
# OpenMP runtime's named critical sections, and AddressSanitizer's
# one-definition-rule marker beside each exported kd_ variable) are not kd's
# names and are skipped.
set -euo pipefail
library=$1
stray=$(nm -g --defined-only "$library" | awk 'NF == 3 { print $3 }' |
        grep -v -e '^kd_' -e '^\.gomp_critical_user_' -e '^__odr_asan\.kd_' | sort -u || true)
if [ -n "$stray" ]; then
    echo "check_symbols: $library exports names outside the kd_ namespace:" >&2
    echo "$stray" >&2
    exit 1
fi
echo "check_symbols: every exported symbol of $library starts with kd_"
