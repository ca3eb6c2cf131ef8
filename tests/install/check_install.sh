#!/usr/bin/env bash
# Install the build tree into a scratch prefix and build a small host program
# against it twice: with CMake's find_package(pydron) -> pydron::pydron and
# with pkg-config. Both must compile, link and run, and every version the
# installed files carry (CMake package, pkg-config, SONAME, the library's
# pydron_version_string()) must be include/pydron.h's.
#   check_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(dirname "$(find "$prefix" -name 'libpydron.so*' | head -n 1)")
# the one source of truth
version=$(sed -n 's/^#define PYDRON_VERSION_STRING "\(.*\)"$/\1/p' "$src/include/pydron.h")
[[ -n $version ]] || { echo "no PYDRON_VERSION_STRING in pydron.h" >&2; exit 1; }
soname=$(objdump -p "$libdir/libpydron.so" | awk '$1 == "SONAME" {print $2}')
echo "header: $version  SONAME: $soname"
[[ $soname == "libpydron.so.${version%%.*}" ]] || { echo "SONAME $soname does not match $version" >&2; exit 1; }

mkdir -p "$work/app"
cat >"$work/app/main.c" <<'C'
#include <pydron.h>
#include <stdio.h>
#include <string.h>
static int twice(pydron_task_ctx *ctx, void *user) {
    const void *p; size_t n; int x;
    (void)user;
    if (pydron_ctx_input(ctx, 0, &p, &n) != 0 || n != sizeof x) return PYDRON_EINVAL;
    memcpy(&x, p, sizeof x);
    x *= 2;
    return pydron_ctx_output_set(ctx, 0, &x, sizeof x);
}
int main(void) {
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = PYDRON_EXECUTOR_THREADS;
    pydron_runtime *rt; pydron_graph *g; uint32_t k; int x = 21;
    pydron_value in, out; const void *p; size_t n;
    if (pydron_runtime_new(&rt, &o) || pydron_runtime_register_c(rt, "twice", twice, NULL, &k) ||
        pydron_graph_new(rt, &g) || pydron_value_constant(g, &x, sizeof x, &in)) return 1;
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k; d.ninputs = 1; d.inputs = &in; d.noutputs = 1;
    if (pydron_task_add(g, &d, NULL, &out) || pydron_graph_wait(g, out, 10000) ||
        pydron_value_bytes(g, out, &p, &n)) { fprintf(stderr, "%s\n", pydron_error_last()); return 1; }
    memcpy(&x, p, sizeof x);
    printf("%s %d\n", pydron_version_string(), x);
    pydron_graph_free(g); pydron_runtime_free(rt);
    return x == 42 ? 0 : 1;
}
C
cat >"$work/app/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.20)
project(app C)
find_package(pydron ${want} EXACT REQUIRED)
message(STATUS "pydron_VERSION=${pydron_VERSION}")
add_executable(app main.c)
target_link_libraries(app PRIVATE pydron::pydron)
CM
cmake -S "$work/app" -B "$work/app/b" -DCMAKE_PREFIX_PATH="$prefix" -Dwant="$version" >"$work/cfg.log"
grep -q "pydron_VERSION=$version\$" "$work/cfg.log" || { cat "$work/cfg.log"; echo "CMake package version is not $version" >&2; exit 1; }
cmake --build "$work/app/b" >/dev/null
out1=$(LD_LIBRARY_PATH=$libdir "$work/app/b/app")
echo "find_package: $out1"

export PKG_CONFIG_PATH=$libdir/pkgconfig
pcv=$(pkg-config --modversion pydron)
[[ $pcv == "$version" ]] || { echo "pkg-config says $pcv, header $version" >&2; exit 1; }
# shellcheck disable=SC2046
cc "$work/app/main.c" $(pkg-config --cflags --libs pydron) -o "$work/app/pc"
out2=$(LD_LIBRARY_PATH=$libdir "$work/app/pc")
echo "pkg-config:   $out2"
[[ $out1 == "$version 42" && $out2 == "$version 42" ]]
