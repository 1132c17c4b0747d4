#!/usr/bin/env bash
# Where scripts/soak's lost records went (4 of 90,000 in a 30-minute run):
# librdkafka's mock cluster (2.0.2, and still upstream) checks producer
# sequence numbers only for transactional producers. When an injected
# Produce error fails one request and a later request for the same
# partition, already in flight on the connection, succeeds, the idempotent
# producer takes that success as proof the failed request was stored too (a
# real broker refuses the later request as out of order) and reports the
# failed request's messages as delivered ("implicitly acked"): they never
# reach the topic, and triaged, trusting the report, commits their input.
# With one request in flight per connection no request can overtake a failed
# one, so scripts/soak sets kafka.producer.max.in.flight.requests.per.connection
# = 1 for its workers. Checked here:
# - an idempotent producer under injected Produce errors, one request in
#   flight: every message reported delivered is on the topic (for
#   comparison, the default's figure is printed, not checked: it varies);
# - triaged with the soak's setting under repeated Produce errors labels
#   every record (without the setting this loses records: see the note in
#   the commit that added this test).
. "$(dirname "$0")/lib.sh"

N=4000
start_kafka --brokers 3 --topic t1:4 --topic t2:4 --topic in:4 --topic out:4 --topic dlq:1
keyed_records m "$N" "$TMP/recs.tsv"
cut -f2 "$TMP/recs.tsv" >"$TMP/recs.jsonl"

# errors_during SECONDS: 20 failing Produce requests every 2 s, with 200 ms
# added round-trip time so that requests queue up on the connections.
errors_during() {
    local i
    kcmd rtt -1 200 >/dev/null
    for i in $(seq 1 $(($1 / 2))); do
        kcmd error Produce NOT_LEADER_FOR_PARTITION 20 >/dev/null
        sleep 2
    done
    kcmd rtt -1 0 >/dev/null
}

# produce TOPIC [-X PROP=VAL]...: N records at 200/s, idempotent, under
# Produce errors; prints "delivered on-topic".
produce() {
    local topic=$1; shift
    "$BIN/kafka-load" produce -b "$KAFKA" -t "$topic" --rate 200 --count "$N" -X enable.idempotence=true "$@" \
        "$TMP/recs.jsonl" >"$TMP/load-$topic.out" 2>"$TMP/load-$topic.err" &
    local pid=$!
    sleep 2
    errors_during 16
    wait "$pid"
    local delivered
    delivered=$(sed -n 's/.* messages=\([0-9]*\) .*/\1/p' "$TMP/load-$topic.out")
    echo "${delivered:-0} $(topic_count "$topic")"
}

echo "-- an idempotent producer against the mock under Produce errors"
read -r d1 c1 < <(produce t1)
echo "   default requests in flight: $d1 reported delivered, $c1 on the topic"
read -r d2 c2 < <(produce t2 -X max.in.flight.requests.per.connection=1)
expect_eq "one request in flight: every message reported delivered" "$d2" "$N"
expect_eq "one request in flight: every delivered message on the topic" "$c2" "$N"

echo "-- triaged with the soak's producer setting under Produce errors"
"$TRIAGE" train --data "$ROOT/data/sample/airline-tweets.jsonl" --label sentiment --out "$TMP/m.tmodel" -q
worker_conf "$TMP/w.conf" idem "$TMP/m.tmodel" "[kafka]" "producer.max.in.flight.requests.per.connection = 1"
start_triaged w "$TMP/w.conf"
check "worker becomes ready" wait_ready w
"$BIN/kafka-load" produce -b "$KAFKA" -t in --rate 200 --count "$N" "$TMP/recs.jsonl" >"$TMP/load-in.out" \
    2>"$TMP/load-in.err" &
LOAD=$!
sleep 2
errors_during 16
wait "$LOAD"
expect_eq "the input is complete" "$(topic_count in)" "$N"
distinct() { kcat -b "$KAFKA" -C -t out -e -q -f '%k\n' 2>/dev/null | sort -u | grep -c '^m-'; }
all_out() { [ "$(distinct)" -ge "$N" ]; }
eventually 120 all_out
expect_eq "every record labeled (distinct ids on the output topic)" "$(distinct)" "$N"
kill -TERM "$PID_w"
wait "$PID_w"
expect_eq "worker exits 0" "$?" 0
finish
