#!/usr/bin/env bash
# Limits between the input and the output (issue 9, defect 1 and the points
# the adversarial pass left untested):
# - a valid record whose labeled output exceeds the producer's
#   message.max.bytes (a ~1,000,100-byte account) is dead-lettered as
#   output_too_large, and the partition goes on (it used to be retried
#   forever: lag 0, /readyz 503, nothing after it delivered);
# - an output the cluster refuses for good (MSG_SIZE_TOO_LARGE) is
#   dead-lettered as undeliverable instead of retried;
# - records in flight are bounded in bytes, not only in count;
# - a batch closes once it holds batch.max.bytes.
. "$(dirname "$0")/lib.sh"

metric() { curl -s "http://127.0.0.1:$(admin_port "$1")/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }
"$TRIAGE" train --data "$ROOT/data/sample/airline-tweets.jsonl" --label category --out "$TMP/m.tmodel" -q
start_kafka --brokers 1 --topic in:1 --topic out:1 --topic dlq:1 --topic in2:1 --topic in3:1 --topic out2:1 --topic out3:1
BIGK=(-X message.max.bytes=3000000)

echo "-- an output larger than message.max.bytes"
worker_conf "$TMP/w.conf" limits "$TMP/m.tmodel"
start_triaged w "$TMP/w.conf"
check "worker becomes ready" wait_ready w
python3 - >"$TMP/big.jsonl" <<'PY'
import json
print(json.dumps({"id": "before", "text": "my bag is lost"}))
print(json.dumps({"id": "big", "text": "my flight is late", "account": "a" * 1000100}))
print(json.dumps({"id": "after", "text": "thanks for the upgrade"}))
PY
check "the 1 MB record is under input.max.bytes" test "$(sed -n 2p "$TMP/big.jsonl" | wc -c)" -lt 1048576
kcat -b "$KAFKA" "${BIGK[@]}" -P -t in -p 0 <"$TMP/big.jsonl"
check "the records around it are labeled" wait_count out 2 60
check "it is dead-lettered" wait_count dlq 1 60
kcat -b "$KAFKA" "${BIGK[@]}" -C -t dlq -e -q -f '%s\n' -X fetch.message.max.bytes=3000000 >"$TMP/dlq.txt" 2>/dev/null
check "as output_too_large, its payload cut to fit" python3 - "$TMP/dlq.txt" <<'PY'
import json, sys
d = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(not (len(d) == 1 and d[0]["error"] == "output_too_large" and d[0]["offset"] == 1
              and d[0]["payload_truncated"] is True and len(json.dumps(d[0])) < 70000))
PY
expect_eq "/readyz stays 200" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(admin_port w)/readyz")" 200

echo "-- an output the cluster refuses for good"
kill -TERM "$PID_w"; wait "$PID_w"
printf '%s\n' '{"id":"r1","text":"lost my bag"}' '{"id":"r2","text":"great crew"}' | kcat -b "$KAFKA" -P -t in -p 0
kcmd error Produce 10 1 >/dev/null   # MSG_SIZE_TOO_LARGE on the worker's first produce request
start_triaged w "$TMP/w.conf"
# r1 and r2 each end up labeled or dead-lettered as undeliverable.
both_out() {
    local l d
    l=$(kcat -b "$KAFKA" -C -t out -e -q -f '%k\n' 2>/dev/null | grep -c '^r[12]$')
    d=$(kcat -b "$KAFKA" -C -t dlq -e -q -f '%s\n' -X fetch.message.max.bytes=3000000 2>/dev/null | grep -c '"undeliverable"')
    [ $((l + d)) -ge 2 ]
}
check "the refused records are dead-lettered as undeliverable, the others labeled" eventually 60 both_out
kcat -b "$KAFKA" -C -t dlq -e -q -f '%s\n' -X fetch.message.max.bytes=3000000 2>/dev/null | grep '"undeliverable"' >"$TMP/undeliv.txt"
check "at least one was refused" test -s "$TMP/undeliv.txt"
check "the dead letter carries the refused output and the reason" grep -q 'MSG_SIZE_TOO_LARGE' "$TMP/undeliv.txt"
kill -TERM "$PID_w"; wait "$PID_w"
expect_eq "worker exits 0" "$?" 0

echo "-- records in flight are bounded in bytes"
worker_conf "$TMP/w2.conf" limits2 "$TMP/m.tmodel" "[input]" "topics = in2" "max.inflight.bytes = 1MB" \
    "max.bytes = 200KB" "[output]" "topic = out2"
# ~50 KB accounts: the labeled records are as large as the inputs, and they
# are what stays in memory while deliveries stall.
python3 - >"$TMP/fat.jsonl" <<'PY'
import json
for i in range(60):
    print(json.dumps({"id": "fat-%d" % i, "text": "my bag was lost", "account": "%d-" % i + "a" * 50000}))
PY
kcat -b "$KAFKA" -P -t in2 -p 0 <"$TMP/fat.jsonl"
kcmd error Produce NOT_LEADER_FOR_PARTITION 100000 >/dev/null   # the worker's deliveries stall
start_triaged w2 "$TMP/w2.conf"
check "records are taken in" eventually 30 bash -c "[ 0\"\$(curl -s http://127.0.0.1:$(admin_port w2)/metrics | awk '\$1 == \"triage_records_in_total\" { print \$2 }')\" -ge 5 ]"
sleep 3
IN=$(metric w2 triage_inflight_records)
echo "  (in flight with deliveries stalled: $IN records of ~50 KB, $(metric w2 triage_inflight_bytes) bytes)"
check "at most 1 MB (~20 records of 50 KB, plus one poll's worth) in flight, not all 60" [ "${IN:-99}" -le 30 ]
kcmd clear >/dev/null
check "all are labeled once deliveries resume" wait_count out2 60 120
kill -TERM "$PID_w2"; wait "$PID_w2"

echo "-- a batch closes at batch.max.bytes"
worker_conf "$TMP/w3.conf" limits3 "$TMP/m.tmodel" "[input]" "topics = in3" "[batch]" "max.bytes = 4KB" \
    "size = 500" "linger.ms = 30s" "[output]" "topic = out3"
start_triaged w3 "$TMP/w3.conf"
check "worker becomes ready" wait_ready w3
python3 -c '
import json
for i in range(40):
    print(json.dumps({"id": "kb-%d" % i, "text": ("my flight was delayed " * 45)[:1000]}))' | kcat -b "$KAFKA" -P -t in3 -p 0
check "records are labeled before the 30 s linger" wait_count out3 40 25
# The metrics page is a snapshot refreshed every second: wait for it to count the batches.
for i in $(seq 1 50); do B=$(metric w3 triage_batches_total); [ "${B:-0}" -ge 8 ] && break; sleep 0.2; done
check "in batches of at most ~4 KB (got ${B:-0} batches for 40 KB)" [ "${B:-0}" -ge 8 ]
kill -TERM "$PID_w3"; wait "$PID_w3"
finish
