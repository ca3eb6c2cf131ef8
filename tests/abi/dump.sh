#!/bin/sh
# dump.sh LIB INCLUDE_DIR > OUT.abi - the ABI of libpydron as libabigail sees
# it: only what include/pydron.h exposes, without build paths, so that the
# dump of a release can be committed (tests/abi/pydron-X.Y.Z.abi) and
# compared against later builds by check.sh. LIB must carry DWARF (-g, as in
# RelWithDebInfo or Debug).
set -eu
command -v abidw >/dev/null || { echo "abidw not found (Debian: abigail-tools)" >&2; exit 1; }
exec abidw --headers-dir "$2" --drop-private-types --exported-interfaces-only \
    --drop-undefined-syms --no-corpus-path --no-comp-dir-path --short-locs \
    --no-elf-needed --type-id-style hash "$1"
