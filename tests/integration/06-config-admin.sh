#!/usr/bin/env bash
# Configuration errors (file and line, exit 2), the documented example config,
# the admin server under malformed requests, bounded metric labels, and model
# handling for a file source: not ready without a model, hot swap on SIGHUP,
# a corrupt replacement refused while the old version keeps serving.
. "$(dirname "$0")/lib.sh"
TD=$BIN/triaged

echo "-- configuration"
check "conf/triaged.conf is what --config-doc prints" cmp -s "$ROOT/conf/triaged.conf" <("$TD" --config-doc)
"$TRIAGE" train --data "$ROOT/data/sample/airline-tweets.jsonl" --label category --out "$TMP/m1.tmodel" -q
expect_status "the example config checks (with a model)" 0 "$TD" -c "$ROOT/conf/triaged.conf" --set model.source="$TMP/m1.tmodel" --check-config
printf '[input]\ntopics = in\ntopicz = in\n' >"$TMP/c1.conf"
expect_status "unknown key" 2 "$TD" -c "$TMP/c1.conf" --set model.source=x
expect_eq "one line naming file and line" "$(cat "$TMP/err")" "triaged: $TMP/c1.conf:3: unknown key 'input.topicz', did you mean 'input.topics'? (triaged --config-doc lists them)"
printf '# comment\n[batch]\nsize = many\n' >"$TMP/c2.conf"
expect_status "bad value" 2 "$TD" -c "$TMP/c2.conf" --set model.source=x
expect_eq "bad value names file and line" "$(cat "$TMP/err")" "triaged: $TMP/c2.conf:3: batch.size: 'many' is not an integer"
printf '[batch]\nsize = 0\n' >"$TMP/c3.conf"
expect_status "out-of-range value" 2 "$TD" -c "$TMP/c3.conf" --set model.source=x
check "range error names file and line" grep -q "^triaged: $TMP/c3.conf:2: batch.size: 0 is out of range" "$TMP/err"
printf '[model]\nsource = x\n[kafka]\nbootstrap.servers = 127.0.0.1:1\nno.such.property = 1\n' >"$TMP/c4.conf"
expect_status "unknown librdkafka property" 2 "$TD" -c "$TMP/c4.conf"
expect_eq "librdkafka error names file and line" "$(cat "$TMP/err")" "triaged: $TMP/c4.conf:5: kafka.no.such.property: No such configuration property: \"no.such.property\""
printf '[kafka]\ngroup.id = x\n' >"$TMP/c5.conf"
expect_status "a property triaged owns" 2 "$TD" -c "$TMP/c5.conf" --set model.source=x
check "points to the right key" grep -q "set input.group" "$TMP/err"
expect_status "bad --set" 2 "$TD" --set model.source=x --set batch.linger.ms=soon
expect_eq "--set error names the argument" "$(cat "$TMP/err")" "triaged: --set 2: batch.linger.ms: 'soon' is not a duration (e.g. 500ms, 30s, 5m, 1h)"
printf '[kafka]\nsasl.password = ${TRIAGE_TEST_UNSET_SECRET}\n' >"$TMP/c6.conf"
expect_status "unset environment variable" 2 "$TD" -c "$TMP/c6.conf" --set model.source=x
check "names the variable" grep -q "TRIAGE_TEST_UNSET_SECRET is not set" "$TMP/err"
expect_status "model.source is required" 2 "$TD" --check-config
printf '[kafka]\nsasl.password = ${TRIAGE_TEST_SECRET}\n' >"$TMP/c7.conf"
TRIAGE_TEST_SECRET=hunter2 "$TD" -c "$TMP/c7.conf" --set model.source=x --print-config --check-config >"$TMP/eff.txt" 2>&1 || true
check "secrets are redacted in the effective config" bash -c "grep -q 'sasl.password = (redacted)' '$TMP/eff.txt' && ! grep -q hunter2 '$TMP/eff.txt'"

echo "-- a worker without a model"
start_kafka --brokers 1 --topic in:2 --topic out:2 --topic dlq:1
worker_conf "$TMP/w.conf" admin "$TMP/live.tmodel" "poll.interval = 500ms"
start_triaged w "$TMP/w.conf"
port=$(admin_port w)
sleep 1
expect_eq "not ready without a model" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" 503
check "readyz says why" bash -c "curl -s http://127.0.0.1:$port/readyz | grep -q 'model: none loaded'"
head -20 "$ROOT/data/sample/airline-tweets.jsonl" | kcat -b "$KAFKA" -P -t in
sleep 1
expect_eq "nothing consumed without a model" "$(topic_count out)" 0
cp "$TMP/m1.tmodel" "$TMP/live.tmodel"
check "ready once the model appears" wait_ready w 30
check "then it consumes" wait_count out 20 30

echo "-- admin server"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
expect_eq "GET /healthz" "$(code "http://127.0.0.1:$port/healthz")" 200
expect_eq "POST is refused" "$(code -X POST -d x "http://127.0.0.1:$port/metrics")" 405
expect_eq "unknown path" "$(code "http://127.0.0.1:$port/nope")" 404
python3 - "$port" <<'PY' >"$TMP/huge.txt"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
try:
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n")
    print(s.recv(100).split(b"\r\n")[0].decode() or "closed")
except Exception as e:
    print("closed")
PY
check "a huge request gets an error or a closed connection ($(cat "$TMP/huge.txt"))" grep -qE '^(HTTP/1.1 4[0-9][0-9]|closed)' "$TMP/huge.txt"
printf 'GARBAGE\r\n\r\n' | timeout 5 nc -q1 127.0.0.1 "$port" >/dev/null 2>&1 || true
expect_eq "still serving after malformed requests" "$(code "http://127.0.0.1:$port/healthz")" 200
curl -s "http://127.0.0.1:$port/metrics" >"$TMP/m.txt"
for fam in triage_records_in_total triage_records_out_total triage_records_dead_lettered_total triage_batches_total \
    triage_batch_size_bucket triage_batch_latency_seconds_bucket triage_classify_seconds_bucket triage_consumer_lag \
    triage_assigned_partitions triage_rebalances_total triage_model_info; do
    check "metrics expose $fam" grep -q "^$fam" "$TMP/m.txt"
done

echo "-- model swap on SIGHUP, corrupt replacement refused"
v1=$(grep -o 'version="[^"]*"' "$TMP/m.txt" | head -1)
sleep 1.1  # a different training second gives a different version
"$TRIAGE" train --data "$ROOT/data/sample/airline-tweets.jsonl" --label category --out "$TMP/m2.tmodel" -q --alpha 0.3
cp "$TMP/m2.tmodel" "$TMP/live.tmodel.new" && mv "$TMP/live.tmodel.new" "$TMP/live.tmodel"
kill -HUP "$PID_w"
cur_version() { curl -s "http://127.0.0.1:$port/metrics" | grep -o '^triage_model_info{[^}]*}' | grep -o 'version="[^"]*"'; }
eventually 15 bash -c "[ -n \"\$(curl -s http://127.0.0.1:$port/metrics | grep '^triage_model_info{')\" ] && ! curl -s http://127.0.0.1:$port/metrics | grep -q '^triage_model_info{.*$v1'"
v2=$(cur_version)
check "SIGHUP swapped in the new version ($v1 -> $v2)" test -n "$v2" -a "$v1" != "$v2"
sed -n 21,40p "$ROOT/data/sample/airline-tweets.jsonl" | kcat -b "$KAFKA" -P -t in
wait_count out 40 30 >/dev/null
consume out "$TMP/o.txt"
check "output records name the new version" grep -q "\"model\":\"default@${v2#version=\"}" <(sed 's/"$//' "$TMP/o.txt")
cp "$TMP/live.tmodel" "$TMP/bad.tmodel"
printf '\xff' | dd of="$TMP/bad.tmodel" bs=1 seek=5000 conv=notrunc status=none
mv "$TMP/bad.tmodel" "$TMP/live.tmodel"
eventually 15 bash -c "curl -s http://127.0.0.1:$port/metrics | grep -q '^triage_model_refusals_total{reason=\"checksum\"} 1'"
curl -s "http://127.0.0.1:$port/metrics" >"$TMP/m3.txt"
check "the corrupt file is refused with its reason" grep -q '^triage_model_refusals_total{reason="checksum"} 1' "$TMP/m3.txt"
check "the refusal is logged" grep -q 'event=model_refused.*reason=checksum' "$TMP/w.log"
check "the previous version keeps serving" grep -q "^triage_model_info{name=\"default\",$v2" "$TMP/m3.txt"
kill -TERM "$PID_w"; wait "$PID_w"
expect_eq "clean exit" "$?" 0

echo "-- metric labels stay bounded"
python3 - "$TMP/many.jsonl" "$TMP/many-in.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f, open(sys.argv[2], "w") as g:
    for i in range(300):
        for j in range(3):
            f.write(json.dumps({"id": "%d-%d" % (i, j), "text": "topic%d alpha%d" % (i, j), "y": "label%03d" % i}) + "\n")
        g.write(json.dumps({"id": "q%d" % i, "text": "topic%d" % i}) + "\n")
PY
"$TRIAGE" train --data "$TMP/many.jsonl" --label y --out "$TMP/many.tmodel" -q --min-df 1 --holdout 0
start_triaged m "$TMP/w.conf" --set model.source="$TMP/many.tmodel" --set input.group=many --set input.topics=many
wait_ready m 30
kcat -b "$KAFKA" -P -t many <"$TMP/many-in.jsonl"
mport=$(admin_port m)
eventually 30 bash -c "curl -s http://127.0.0.1:$mport/metrics | grep -q '^triage_records_out_total 300$'"
n=$(curl -s "http://127.0.0.1:$mport/metrics" | grep -c '^triage_labels_total{')
check "300 labels give at most 257 label series ($n)" test "$n" -le 257 -a "$n" -ge 200
check "the overflow series is _other" bash -c "curl -s http://127.0.0.1:$mport/metrics | grep -q '^triage_labels_total{label=\"_other\"}'"
kill -TERM "$PID_m"; wait "$PID_m"
finish
