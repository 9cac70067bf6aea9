#!/bin/sh
# Rebuild conv3d.wasm from conv3d.c (needs clang >= 14 and wasm-ld, e.g. Debian's clang + lld).
# The committed conv3d.wasm is what runs; the test suite checks a rebuild matches it byte for byte.
set -eu
cd "$(dirname "$0")"
OUT="${1:-conv3d.wasm}"
clang --target=wasm32 -msimd128 -matomics -mbulk-memory -O3 -mllvm -disable-lsr -nostdlib -ffreestanding \
  -fno-builtin-memset -Wall -Wextra -Werror \
  -Wl,--no-entry -Wl,--export-dynamic -Wl,--import-memory -Wl,--shared-memory \
  -Wl,--max-memory=4294967296 -Wl,--strip-all \
  -o "$OUT" conv3d.c
