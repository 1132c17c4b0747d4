#!/usr/bin/env bash
# A revoke blocks the loop (pipeline.h states the bound: one batch's
# classification plus output.flush.timeout.ms): with the output broker down
# and records in flight, a second worker joins, the first one's revoke waits
# out its flush, and /healthz keeps answering 200 throughout. Then the output
# comes back and nothing is lost.
. "$(dirname "$0")/lib.sh"
N=6000

"$TRIAGE" train --data "$ROOT/data/sample/airline-tweets.jsonl" --label category --out "$TMP/m.tmodel" -q
keyed_records rv "$N" "$TMP/a.txt"
start_kafka --brokers 2 --topic in:4 --topic out:4 --topic dlq:1
for p in 0 1 2 3; do kcmd leader in $p 1 >/dev/null; kcmd leader out $p 2 >/dev/null; done
kcmd leader dlq 0 1 >/dev/null
kcmd coordinator group rv 1 >/dev/null
worker_conf "$TMP/w.conf" rv "$TMP/m.tmodel" "[output]" "flush.timeout.ms = 6s"
start_triaged a "$TMP/w.conf"
check "worker a ready" wait_ready a
head -n 2000 "$TMP/a.txt" | kcat -b "$KAFKA" -P -t in -K '\t'
wait_count out 2000 60 >/dev/null
expect_eq "output broker goes down" "$(kcmd down 2)" ok
tail -n +2001 "$TMP/a.txt" | kcat -b "$KAFKA" -P -t in -K '\t' 2>/dev/null
inflight() { curl -s "http://127.0.0.1:$(admin_port a)/metrics" | awk '$1 == "triage_inflight_records" { print $2 }'; }
has_inflight() { [ "$(inflight)" -gt 0 ] 2>/dev/null; }
check "records in flight, undelivered" eventually 30 has_inflight

# Poll a's /healthz while worker b joins and a's revoke waits for its flush.
PORT=$(admin_port a)
(
    while :; do
        echo "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")"
        sleep 0.2
    done
) >"$TMP/healthz.txt" &
POLL=$!
CLEANUP+=("kill $POLL")
start_triaged b "$TMP/w.conf"
check "a's revoke waited out its flush with deliveries pending" \
    eventually 60 grep -q event=revoke_flush_incomplete "$TMP/a.log"
kill "$POLL"; wait "$POLL" 2>/dev/null
polls=$(wc -l <"$TMP/healthz.txt")
bad=$(grep -vc '^200$' "$TMP/healthz.txt")
echo "   /healthz polled $polls times during the rebalance"
expect_ge "/healthz answered throughout (polls)" "$polls" 10
expect_eq "every answer was 200" "$bad" 0
check "worker a still running" kill -0 "$PID_a"

expect_eq "output broker comes back" "$(kcmd up 2)" ok
check "every record comes out" wait_count out "$N" 120
finish
