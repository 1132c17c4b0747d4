#!/usr/bin/env bash
# The served plain-file model changed in place (issue 9, defect 2): the file
# truncated to 0 bytes while records are scored (the daemon died of SIGBUS
# when the model was a mapping of the file), then a different model written
# over the same inode: it is picked up as a new version, and every record
# carries one model's labels.
. "$(dirname "$0")/lib.sh"
SAMPLE=$ROOT/data/sample/airline-tweets.jsonl
head -n 1500 "$SAMPLE" >"$TMP/train.jsonl"
"$TRIAGE" train --data "$TMP/train.jsonl" --label category --out "$TMP/m1.tmodel" -q --name first
"$TRIAGE" train --data "$TMP/train.jsonl" --label category --out "$TMP/m2.tmodel" -q --name second --alpha 0.5
cp "$TMP/m1.tmodel" "$TMP/served.tmodel"

start_kafka --brokers 1 --topic in:2 --topic out:2 --topic dlq:1
worker_conf "$TMP/w.conf" inplace "$TMP/served.tmodel" "poll.interval = 200ms"
start_triaged w "$TMP/w.conf"
check "worker becomes ready" wait_ready w
keyed_records a 400 "$TMP/a.txt"
keyed_records b 400 "$TMP/b.txt"
keyed_records c 400 "$TMP/c.txt"
kcat -b "$KAFKA" -P -t in -K '\t' <"$TMP/a.txt"
check "the first records come out" wait_count out 400 120

echo "-- truncated in place"
truncate -s 0 "$TMP/served.tmodel"
kcat -b "$KAFKA" -P -t in -K '\t' <"$TMP/b.txt"
check "records are still scored after the truncation" wait_count out 800 120
check "the worker is alive" kill -0 "$PID_w"
check "the empty file is refused" eventually 20 grep -q 'event=model_refused' "$TMP/w.log"

echo "-- another model written over the same inode"
dd if="$TMP/m2.tmodel" of="$TMP/served.tmodel" conv=notrunc status=none
check "it loads as a new version" eventually 30 bash -c "grep 'event=model_loaded' '$TMP/w.log' | tail -1 | grep -q 'previous='"
kcat -b "$KAFKA" -P -t in -K '\t' <"$TMP/c.txt"
check "the last records come out" wait_count out 1200 120
check "the worker is still alive" kill -0 "$PID_w"
expect_eq "two model loads in all" "$(grep -c 'event=model_loaded' "$TMP/w.log")" 2
finish
