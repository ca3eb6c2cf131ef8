#!/bin/sh
# check_exports.sh LIB HEADER MODE
#   MODE only-pydron: every dynamic symbol LIB defines is pydron_*
#   MODE complete:    every PYDRON_API function HEADER declares is defined
set -eu
lib=$1
header=$2
mode=$3
command -v nm >/dev/null || { echo "nm not found (binutils)"; exit 1; }
defined=$(nm -D --defined-only "$lib" | awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' | sort -u)
if [ -z "$defined" ]; then
    echo "$lib defines no dynamic symbols"
    exit 1
fi
case $mode in
only-pydron)
    bad=$(printf '%s\n' "$defined" | grep -v '^pydron_' || true)
    if [ -n "$bad" ]; then
        echo "$lib exports symbols outside pydron_*:"
        printf '  %s\n' $bad
        exit 1
    fi
    echo "$(printf '%s\n' "$defined" | wc -l) exported symbols, all pydron_*"
    ;;
complete)
    declared=$(sed -n 's/^PYDRON_API[^(]*[^a-z0-9_]\(pydron_[a-z0-9_]*\)(.*/\1/p' "$header" | sort -u)
    missing=$(printf '%s\n' "$declared" | while read -r f; do
        printf '%s\n' "$defined" | grep -qx "$f" || echo "$f"
    done)
    if [ -n "$missing" ]; then
        echo "declared in $(basename "$header") but not exported by $(basename "$lib"):"
        printf '  %s\n' $missing
        exit 1
    fi
    echo "all $(printf '%s\n' "$declared" | wc -l) declared functions are exported"
    ;;
*)
    echo "usage: $0 LIB HEADER only-pydron|complete"
    exit 2
    ;;
esac
