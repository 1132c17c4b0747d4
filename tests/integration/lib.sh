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
    [ "${KEEP_TMP:-0}" = 1 ] && echo "kept $TMP" || rm -rf "$TMP"
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
# eventually SECONDS CMD...: runs CMD every 0.2 s until it succeeds (status 0)
# or SECONDS pass (status 1). For conditions that become true asynchronously.
eventually() {
    local deadline=$(( $(date +%s) + $1 )); shift
    until "$@"; do
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 0.2
    done
}
finish() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ]
}

# ---- Kafka and daemon helpers ----
# start_kafka ARGS...: starts the mock cluster helper; sets KAFKA (bootstrap list).
start_kafka() {
    mkfifo "$TMP/kcmd"
    "$BIN/kafka-mock" "$@" <"$TMP/kcmd" >"$TMP/kmock.out" 2>"$TMP/kmock.err" &
    KMOCK_PID=$!
    exec 9>"$TMP/kcmd"
    CLEANUP+=("kill $KMOCK_PID")
    local i
    for i in $(seq 1 100); do
        [ -s "$TMP/kmock.out" ] && break
        sleep 0.1
    done
    KAFKA=$(head -1 "$TMP/kmock.out")
    echo 1 >"$TMP/kmock.lines"
    [ -n "$KAFKA" ] || { echo "kafka-mock did not start: $(cat "$TMP/kmock.err")"; exit 1; }
}
# kcmd COMMAND...: sends a fault command to the mock, prints its one-line reply.
# (The count of replies read lives in a file: callers run this in subshells.)
kcmd() {
    echo "$*" >&9
    local i seen
    seen=$(cat "$TMP/kmock.lines")
    for i in $(seq 1 300); do
        if [ "$(wc -l <"$TMP/kmock.out")" -gt "$seen" ]; then
            seen=$((seen + 1))
            echo "$seen" >"$TMP/kmock.lines"
            sed -n "${seen}p" "$TMP/kmock.out"
            return 0
        fi
        sleep 0.05
    done
    echo "error no reply"
    return 1
}
# topic_count TOPIC: messages ever written to TOPIC.
topic_count() { kcmd count "$1" | awk '$1 == "ok" { print $2 }'; }
# wait_count TOPIC N [SECONDS]: waits until TOPIC holds at least N messages.
wait_count() {
    local deadline=$(( $(date +%s) + ${3:-120} )) c
    while :; do
        c=$(topic_count "$1")
        [ "${c:-0}" -ge "$2" ] && return 0
        [ "$(date +%s)" -ge "$deadline" ] && { echo "  (timeout: $1 has ${c:-0} of $2)"; return 1; }
        sleep 0.2
    done
}
# write_conf FILE: a triaged config for the test cluster; append sections.
write_conf() {
    local f=$1
    {
        echo "[kafka]"
        echo "bootstrap.servers = $KAFKA"
        echo "session.timeout.ms = 6000"
        echo "heartbeat.interval.ms = 500"
        echo "topic.metadata.refresh.interval.ms = 2000"
        echo "[admin]"
        echo "listen = 127.0.0.1:0"
        echo "[log]"
        echo "level = info"
    } >"$f"
}
# worker_conf FILE GROUP MODEL_SOURCE [SECTION_LINES...]: a classify worker's
# config on the test cluster (topics in, out, dlq); each extra argument is one
# more line (e.g. "[input]" "max.bytes = 4096": sections may repeat).
worker_conf() {
    local f=$1 group=$2 source=$3; shift 3
    write_conf "$f"
    printf '%s\n' "[input]" "topics = in" "group = $group" "[output]" "topic = out" "dlq.topic = dlq" \
        "[model]" "source = $source" "$@" >>"$f"
}
# pace RATE: copies stdin to stdout at about RATE lines a second (a steady
# producer for kcat -P).
pace() {
    python3 -c '
import sys, time
rate, t0, n, buf = float(sys.argv[1]), time.time(), 0, []
for line in sys.stdin:
    buf.append(line); n += 1
    if len(buf) >= max(1, int(rate / 50)):
        sys.stdout.write("".join(buf)); sys.stdout.flush(); buf = []
        d = t0 + n / rate - time.time()
        if d > 0: time.sleep(d)
sys.stdout.write("".join(buf))' "$1"
}
# keyed_records PREFIX COUNT FILE: COUNT records "id<TAB>json" with unique
# ids PREFIX-N, texts (and ts, account) cycled from the shipped sample.
keyed_records() {
    python3 - "$ROOT/data/sample/airline-tweets.jsonl" "$@" <<'PY'
import json, sys
src = [json.loads(l) for l in open(sys.argv[1])]
prefix, n = sys.argv[2], int(sys.argv[3])
with open(sys.argv[4], "w") as o:
    for i in range(n):
        r = src[i % len(src)]
        rid = "%s-%d" % (prefix, i)
        o.write(rid + "\t" + json.dumps({"id": rid, "text": r["text"], "account": r["account"], "ts": r["ts"]}) + "\n")
PY
}
# start_triaged NAME CONF [--set K=V]...: starts a worker in the background;
# sets PID_<NAME>; its log is $TMP/NAME.log (earlier runs' logs: NAME.log.*).
start_triaged() {
    local name=$1 conf=$2; shift 2
    # A restarted worker gets a fresh log (the old one is kept aside), so
    # helpers reading it (admin_port) never see the previous run's lines.
    [ -e "$TMP/$name.log" ] && mv "$TMP/$name.log" "$TMP/$name.log.$(date +%s%N)"
    "$BIN/triaged" -c "$conf" "$@" >"$TMP/$name.stdout" 2>"$TMP/$name.log" &
    eval "PID_$name=$!"
    CLEANUP+=("kill -9 $!")
}
# admin_port NAME: the admin port a worker logged.
admin_port() {
    local i p
    for i in $(seq 1 100); do
        p=$(grep -o 'event=admin_listening[^ ]* [^ ]* port=[0-9]*' "$TMP/$1.log" 2>/dev/null | tail -1 | sed 's/.*port=//')
        [ -n "$p" ] && { echo "$p"; return 0; }
        sleep 0.1
    done
    return 1
}
# wait_ready NAME [SECONDS]: waits for /readyz to answer 200.
wait_ready() {
    local port; port=$(admin_port "$1") || return 1
    local deadline=$(( $(date +%s) + ${2:-60} ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && return 0
        sleep 0.2
    done
    return 1
}
# consume TOPIC FILE: writes every message of TOPIC as "key<TAB>value" lines.
consume() { kcat -b "$KAFKA" -C -t "$1" -e -q -f '%k\t%s\n' >"$2" 2>/dev/null; }
