#!/usr/bin/env bash
# kd's modules form layers and includes only point down: a file may include
# its own module's headers and those of the modules beneath its module, never
# a higher one's or one beside it. The table of layers is the one in
# docs/architecture.md ("| layer | module | header(s) | directory | sits on |"),
# read from there so that the document and the check cannot disagree. Also
# checked: every public header and source directory is in the table, every
# "sits on" is used by some include, and each layer number is one more than
# the highest layer its module sits on.
#
#   check_layers.sh ROOT              checks the tree at ROOT
#   check_layers.sh --self-test ROOT  plants violations in copies of ROOT and
#                                     fails unless each one is caught
set -euo pipefail

declare -A layer_of below header_module directory_module used

# Reads the table of $1/docs/architecture.md into the arrays above.
read_table() {
    local doc=$1/docs/architecture.md module layer headers directory sits header
    [[ -f $doc ]] || { echo "$doc: missing"; return 1; }
    layer_of=() below=() header_module=() directory_module=()
    while IFS='|' read -r _ layer module headers directory sits _; do
        module=${module//[\` ]/}
        layer=${layer// /}
        directory=${directory//[\` ]/}
        directory=${directory%/}
        sits=${sits// /}
        [[ $sits == "—" ]] && sits=""
        layer_of[$module]=$layer
        below[$module]=${sits//,/ }
        directory_module[$directory]=$module
        for header in ${headers//[\`(),]/ }; do
            [[ $header == kd/*.h ]] && header_module[${header#kd/}]=$module
        done
    done < <(sed -n '/^| layer | module/,/^$/p' "$doc" | grep -E '^\| *[0-9]+ *\|')
    ((${#layer_of[@]} > 0)) || { echo "$doc: no table of layers"; return 1; }
}

# Whether module $1 may include a header of module $2.
may_include() {
    local from=$1 to=$2 next
    [[ $from == "$to" ]] && return 0
    for next in ${below[$from]}; do
        may_include "$next" "$to" && return 0
    done
    return 1
}

# Marks as used the first module $1 sits on through which it reaches $2, so
# that a "sits on" no include needs can be reported.
record_use() {
    local from=$1 to=$2 next
    for next in ${below[$from]}; do
        if may_include "$next" "$to"; then
            used[$from:$next]=1
            return
        fi
    done
}

# Prints one line per problem in the tree at $1; the exit status is 1 when any.
check_tree() {
    local root=$1 failures=0 file module target target_module line next highest
    local -A file_module=()
    read_table "$root" || return 1
    used=()
    while IFS= read -r file; do
        if [[ $file == include/kd/* ]]; then
            module=${header_module[${file#include/kd/}]:-}
        else
            module=${directory_module[${file%/*}]:-}
        fi
        if [[ -z $module ]]; then
            echo "$file: its header or directory is missing from the table of layers"
            failures=$((failures + 1))
        fi
        file_module[$file]=$module
    done < <(cd "$root" && find include/kd src teacher student -type f \( -name '*.c' -o -name '*.h' \))
    while IFS= read -r line; do
        file=${line%%:*}
        module=${file_module[$file]:-}
        [[ -n $module ]] || continue
        target=${line#*\"}
        target=${target%%\"*}
        if [[ $target != kd/* ]]; then
            # A private header: only the module's own, from its own directory.
            if [[ $target == */* ]]; then
                echo "$file: includes \"$target\" from another directory"
                failures=$((failures + 1))
            fi
            continue
        fi
        target_module=${header_module[${target#kd/}]:-}
        if [[ -z $target_module ]]; then
            echo "$file: includes \"$target\", which the table of layers lacks"
            failures=$((failures + 1))
        elif ! may_include "$module" "$target_module"; then
            echo "$file: $module includes \"$target\" of $target_module, which is not beneath" \
                 "it: includes must point down"
            failures=$((failures + 1))
        elif [[ $module != "$target_module" ]]; then
            record_use "$module" "$target_module"
        fi
    done < <(cd "$root" && grep -rHE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' \
                 --include='*.c' --include='*.h' include/kd src teacher student | sort)
    for module in "${!layer_of[@]}"; do
        highest=-1
        for next in ${below[$module]}; do
            if [[ -z ${layer_of[$next]:-} ]]; then
                echo "docs/architecture.md: $module sits on $next, which is not in the table"
                failures=$((failures + 1))
                continue
            fi
            ((layer_of[$next] > highest)) && highest=${layer_of[$next]}
            if [[ -z ${used[$module:$next]:-} ]]; then
                echo "docs/architecture.md: $module sits on $next, but no include of $module needs it"
                failures=$((failures + 1))
            fi
        done
        if ((layer_of[$module] != highest + 1)); then
            echo "docs/architecture.md: $module is in layer ${layer_of[$module]}, but the highest" \
                 "module it sits on is in layer $highest"
            failures=$((failures + 1))
        fi
    done
    ((failures == 0))
}

# Copies the tree, runs the command "${@:4}" in the copy, and expects
# check_tree to report `expected` ($3) about it.
expect_caught() {
    local root=$1 description=$2 expected=$3 copy output
    shift 3
    copy=$(mktemp -d)
    mkdir "$copy/docs"
    cp -r "$root/include" "$root/src" "$root/teacher" "$root/student" "$copy"
    cp "$root/docs/architecture.md" "$copy/docs"
    (cd "$copy" && "$@")
    if output=$(check_tree "$copy"); then
        echo "check_layers self-test: $description was not caught" >&2
        rm -rf "$copy"
        return 1
    fi
    rm -rf "$copy"
    if ! grep -qF "$expected" <<<"$output"; then
        echo "check_layers self-test: $description: expected \"$expected\", got:" >&2
        echo "$output" >&2
        return 1
    fi
    echo "check_layers self-test: caught $description"
}

# Adds the line $3 after the first line of file $1 equal to $2.
insert_after() {
    awk -v line="$2" -v text="$3" '{ print } !done && $0 == line { print text; done = 1 }' \
        "$1" >"$1.edited"
    cmp -s "$1" "$1.edited" && { echo "insert_after: no line \"$2\" in $1" >&2; return 1; }
    mv "$1.edited" "$1"
}

# Writes a source file that includes kd/core.h at $1, creating its directory.
add_file() {
    mkdir -p "$(dirname "$1")"
    echo '#include "kd/core.h"' >"$1"
}

# Replaces the table row of module $1 in the document with the row $2.
replace_row() {
    awk -v module="$1" -v row="$2" \
        '$0 ~ "^\\| *[0-9]+ *\\| `" module "`" { print row; next } { print }' \
        docs/architecture.md >docs/edited.md
    mv docs/edited.md docs/architecture.md
}

self_test() {
    local root=$1
    check_tree "$root" >/dev/null || { echo "check_layers self-test: $root fails already" >&2; return 1; }
    expect_caught "$root" "data including nn" 'src/data/dataset.c: data includes "kd/nn.h" of nn' \
        insert_after src/data/dataset.c '#include "kd/data.h"' '#include "kd/nn.h"'
    expect_caught "$root" "the cache including nn" 'src/cache/writer.c: cache includes "kd/nn.h"' \
        insert_after src/cache/writer.c '#include "kd/io.h"' '#include "kd/nn.h"'
    expect_caught "$root" "io's header including hf" 'include/kd/io.h: io includes "kd/hf.h"' \
        insert_after include/kd/io.h '#include "kd/core.h"' '#include "kd/hf.h"'
    expect_caught "$root" "a sideways include" 'src/cache/writer.c: cache includes "kd/train.h"' \
        insert_after src/cache/writer.c '#include "kd/io.h"' '#include "kd/train.h"'
    expect_caught "$root" "another module's private header" \
        'src/train/run.c: includes "../cache/cache_format.h" from another directory' \
        insert_after src/train/run.c '#include "train_internal.h"' '#include "../cache/cache_format.h"'
    expect_caught "$root" "a directory missing from the table" \
        'src/extra/extra.c: its header or directory is missing' add_file src/extra/extra.c
    expect_caught "$root" "a header missing from the table" \
        'include/kd/extra.h: its header or directory is missing' add_file include/kd/extra.h
    expect_caught "$root" "a \"sits on\" that no include needs" \
        'report sits on cache, but no include of report needs it' \
        replace_row report '| 4 | `report` | `kd/report.h` | `src/report` | train, cache |'
    expect_caught "$root" "a wrong layer number" 'pipeline is in layer 4' \
        replace_row pipeline '| 4 | `pipeline` | `kd/pipeline.h` | `src/pipeline` | teacher, student, report |'
}

if [[ ${1:-} == --self-test ]]; then
    self_test "$2"
    exit
fi
root=${1:?usage: check_layers.sh [--self-test] ROOT}
if ! check_tree "$root" >&2; then
    echo "check_layers: the includes and the table of layers in docs/architecture.md disagree" >&2
    exit 1
fi
echo "check_layers: every include in $root points down the layers of docs/architecture.md"
