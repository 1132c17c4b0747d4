#!/usr/bin/env bash
# --check-config checks everything start-up checks (issue 9, defect 9): each
# setting below passed --check-config and then failed at start. Now both
# refuse it with exit 2 and one line naming where the value came from; a
# real start is tried for each too, so the two can never drift apart.
. "$(dirname "$0")/lib.sh"
TD=$BIN/triaged

# refused DESCRIPTION ORIGIN_WORD SET...: --check-config and a start both exit 2.
refused() {
    local d=$1 word=$2; shift 2
    local sets=() s
    for s in "$@"; do sets+=(--set "$s"); done
    expect_status "$d: --check-config refuses it" 2 "$TD" --set model.source=x --set admin.listen=off "${sets[@]}" --check-config
    check "$d: the error names $word" grep -q -- "$word" "$TMP/err"
    expect_status "$d: a start refuses it the same way" 2 timeout 20 "$TD" --set model.source=x --set admin.listen=off "${sets[@]}"
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

echo "-- a good configuration still checks"
expect_status "defaults with a model source" 0 "$TD" --set model.source=x --check-config
expect_status "the alarms role without a model source" 0 "$TD" --set role=alarms --check-config
finish
