#!/usr/bin/env bash
# make check-layers: passes on the tree as it is, and fails (naming the file and
# line) when a lower layer includes a header from a layer above it, when the CLI
# and the daemon include each other, or when a bare include is no private header.
. "$(dirname "$0")/lib.sh"

expect_status "the tree as committed passes" 0 make -s -C "$ROOT" check-layers
copy=$TMP/tree
mkdir -p "$copy"
cp -r "$ROOT/src" "$ROOT/include" "$ROOT/scripts" "$ROOT/Makefile" "$copy/"

plant() { # plant FILE LINE: add LINE at the top of FILE in the copy, run the check, restore
    cp "$copy/$1" "$TMP/saved"
    { echo "$2"; cat "$TMP/saved"; } >"$copy/$1"
    make -s -C "$copy" check-layers >"$TMP/out" 2>&1
    local rc=$?
    cp "$TMP/saved" "$copy/$1"
    return $rc
}
for c in 'src/core/tok.c|#include "io/store.h"' 'src/codec/rec.c|#include "daemon/pipeline.h"' \
         'include/core/model.h|#include "codec/jscan.h"' 'src/io/store.c|#include "daemon/metrics.h"' \
         'src/cli/train.c|#include "daemon/registry.h"' 'src/daemon/pipeline.c|#include "cli.h"'; do
    f=${c%%|*} line=${c#*|}
    plant "$f" "$line"
    rc=$?
    expect_eq "planted $line in $f is refused" "$rc" 2
    check "  the message names $f:1" grep -q "^$f:1:" "$TMP/out"
done
plant src/daemon/pipeline.c '#include "io/store.h"'
expect_eq "an include pointing down is allowed" "$?" 0
finish
