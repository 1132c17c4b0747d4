#!/usr/bin/env bash
# --check-config checks everything start-up checks (issue 9, defect 9): each
# setting below passed --check-config and then failed at start. Now both
# refuse it with exit 2 and one line naming where the value came from; a
# real start is tried for each too, so the two can never drift apart.
. "$(dirname "$0")/lib.sh"
TD=$BIN/triaged
"$TRIAGE" train --data "$ROOT/data/sample/airline-tweets.jsonl" --label category --algo nb --out "$TMP/m.tmodel" -q
M=$TMP/m.tmodel

# refused DESCRIPTION ORIGIN_WORD SET...: --check-config and a start both exit 2.
refused() {
    local d=$1 word=$2; shift 2
    local sets=() s
    for s in "$@"; do sets+=(--set "$s"); done
    expect_status "$d: --check-config refuses it" 2 "$TD" --set model.source="$M" --set admin.listen=off "${sets[@]}" --check-config
    check "$d: the error names $word" grep -q -- "$word" "$TMP/err"
    expect_status "$d: a start refuses it the same way" 2 timeout 20 "$TD" --set model.source="$M" --set admin.listen=off "${sets[@]}"
}

echo "-- settings that used to pass --check-config"
refused "an empty text field name" "input.text.fields" "input.text.fields=a,,b"
refused "nine text fields" "input.text.fields" "input.text.fields=a,b,c,d,e,f,g,h,i"
refused "a topic list without a topic" "input.topics" "input.topics=, ,"
refused "acks=0 with the idempotent producer" "acks" "kafka.producer.acks=0"
refused "a port above 65535" "admin.listen" "admin.listen=127.0.0.1:99999"
refused "a model name with a path" "model.name" "model.name=../x"
refused "an empty output topic" "output.topic" "output.topic="
refused "a store URL without a bucket" "model.source" "model.source=s3://"
refused "dead letters that cannot fit a message" "output.dlq.payload.max.bytes" "output.dlq.payload.max.bytes=1000000"
refused "a producer message limit below the dead letters" "message.max.bytes" "kafka.producer.message.max.bytes=10000"

echo "-- the model file a start would load"
# A start waits for a missing or refused file (not ready, test 06); the
# check's question is whether the configuration would serve, so it refuses.
expect_status "a model file that does not exist is refused" 2 "$TD" --set model.source="$TMP/none.tmodel" --check-config
check "the error names model.source and the file" grep -q "model.source: $TMP/none.tmodel: No such file" "$TMP/err"
head -c 100 "$M" >"$TMP/cut.tmodel"
expect_status "a damaged model file is refused" 2 "$TD" --set model.source="$TMP/cut.tmodel" --check-config
check "the error says why" grep -q "model.source: $TMP/cut.tmodel: truncated" "$TMP/err"
expect_status "a directory is not a model file" 2 "$TD" --set model.source="$TMP" --check-config

echo "-- the flush timeout /healthz can cover (pipeline.h)"
# A revoke blocks the loop for the flush plus a batch's classification; with
# the admin server on, /healthz says 503 once the loop is silent for 10 s.
ADMIN=127.0.0.1:$((20000 + RANDOM % 20000))
expect_status "a 9 s flush timeout with the admin server on: --check-config refuses it" 2 \
    "$TD" --set model.source="$M" --set admin.listen="$ADMIN" --set output.flush.timeout.ms=9s --check-config
check "the error names output.flush.timeout.ms and the limit" grep -q "output.flush.timeout.ms 9000 is above 8000" "$TMP/err"
expect_status "a start refuses it the same way" 2 timeout 20 \
    "$TD" --set model.source="$M" --set admin.listen="$ADMIN" --set output.flush.timeout.ms=9s
expect_status "8 s is accepted" 0 "$TD" --set model.source="$M" --set admin.listen="$ADMIN" --set output.flush.timeout.ms=8s --check-config
expect_status "without the admin server any flush timeout is" 0 \
    "$TD" --set model.source="$M" --set admin.listen=off --set output.flush.timeout.ms=60s --check-config
check "the documented default is within the limit" bash -c "'$TD' --config-doc | grep -q '^#flush.timeout.ms = 8000$'"

echo "-- a good configuration still checks"
expect_status "defaults with a model file" 0 "$TD" --set model.source="$M" --check-config
expect_status "a directory store" 0 "$TD" --set model.source="file://$TMP" --check-config
expect_status "the alarms role without a model source" 0 "$TD" --set role=alarms --check-config
finish
