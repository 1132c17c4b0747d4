# Shared helpers for integration tests (sourced). Each test script counts its
# checks and ends with `finish`, which prints "N passed, N failed" and sets
# the exit status. Tests use the ASan+UBSan binaries by default.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${TRIAGE_BIN:-$ROOT/build/asan}
TRIAGE=$BIN/triage
DATA=${TRIAGE_DATA:-$ROOT/../shared/data}
[ -d "$DATA" ] || DATA=$ROOT/data/sample
TMP=$(mktemp -d "${TMPDIR:-/tmp}/triage-it.XXXXXX")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=87}
PASSED=0
FAILED=0
CLEANUP=()

cleanup() {
    local c
    for c in "${CLEANUP[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

ok() { PASSED=$((PASSED + 1)); echo "  ok   $*"; }
fail() { FAILED=$((FAILED + 1)); echo "  FAIL $*"; }
# check "description" command...: passes when the command succeeds.
check() { local d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }
# expect_eq "description" actual expected
expect_eq() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1 (got '$2', expected '$3')"; fi; }
# expect_ge "description" actual minimum   (numbers, compared with awk)
expect_ge() { if awk -v a="$2" -v b="$3" 'BEGIN { exit !(a + 0 >= b + 0) }'; then ok "$1 ($2 >= $3)"; else fail "$1 (got $2, need >= $3)"; fi; }
# Run a command expecting a given exit status; output goes to $TMP/out, $TMP/err.
expect_status() {
    local d=$1 want=$2; shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"
    local got=$?
    if [ "$got" = "$want" ]; then ok "$d (exit $got)"; else fail "$d (exit $got, expected $want; stderr: $(head -c 300 "$TMP/err"))"; fi
}
finish() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ]
}
