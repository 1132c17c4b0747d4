#!/usr/bin/env bash
# triaged, clean run: every shared airline tweet (train and test) keyed by id
# through one worker; each comes out exactly once, labeled exactly as
# `triage classify` labels it, nothing dead-lettered; SIGTERM exits 0.
. "$(dirname "$0")/lib.sh"

if [ -f "$DATA/airline_train.jsonl" ]; then
    cat "$DATA/airline_train.jsonl" "$DATA/airline_test.jsonl" >"$TMP/all.jsonl"
    "$TRIAGE" train --data "$DATA/airline_train.jsonl" --label sentiment --out "$TMP/m.tmodel" -q
else
    cp "$ROOT/data/sample/airline-tweets.jsonl" "$TMP/all.jsonl"
    "$TRIAGE" train --data "$TMP/all.jsonl" --label category --out "$TMP/m.tmodel" -q
fi
N=$(wc -l <"$TMP/all.jsonl")
echo "-- $N records"
python3 - "$TMP/all.jsonl" "$TMP/keyed.txt" <<'PY'
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as o:
    for line in f:
        o.write(json.loads(line)["id"] + "\t" + line)
PY

start_kafka --brokers 1 --topic in:4 --topic out:4 --topic dlq:1
worker_conf "$TMP/w.conf" clean "$TMP/m.tmodel"
expect_status "config check" 0 "$BIN/triaged" -c "$TMP/w.conf" --check-config
kcat -b "$KAFKA" -P -t in -K '\t' <"$TMP/keyed.txt"
start_triaged w "$TMP/w.conf"
check "worker becomes ready" wait_ready w
check "all $N records come out" wait_count out "$N" 300
sleep 1
consume out "$TMP/out.txt"
consume dlq "$TMP/dlq.txt"
"$TRIAGE" classify --model "$TMP/m.tmodel" "$TMP/all.jsonl" >"$TMP/cli.jsonl"
python3 - "$TMP/all.jsonl" "$TMP/out.txt" "$TMP/cli.jsonl" >"$TMP/cmp.txt" <<'PY'
import json, sys, collections
want = collections.Counter(json.loads(l)["id"] for l in open(sys.argv[1]))
got = collections.Counter()
labels = collections.defaultdict(set)
bad_key = bad_fields = 0
for line in open(sys.argv[2]):
    k, v = line.rstrip("\n").split("\t", 1)
    r = json.loads(v)
    got[r["id"]] += 1
    labels[r["id"]].add(r["label"])
    bad_key += k != r["id"]
    bad_fields += not (r["model"].startswith("default@") and len(r["top"]) == 3 and "ts" in r and "account" in r)
cli = {}
for l in open(sys.argv[3]):
    r = json.loads(l); cli[r["id"]] = r["label"]
mismatch = sum(1 for i in labels if labels[i] != {cli[i]})
print("missing", sum((want - got).values()))
print("extra", sum((got - want).values()))
print("mismatch", mismatch)
print("badkey", bad_key)
print("badfields", bad_fields)
PY
cat "$TMP/cmp.txt" | sed 's/^/   /'
expect_eq "no record missing" "$(awk '$1=="missing"{print $2}' "$TMP/cmp.txt")" 0
expect_eq "no record twice" "$(awk '$1=="extra"{print $2}' "$TMP/cmp.txt")" 0
expect_eq "labels identical to triage classify" "$(awk '$1=="mismatch"{print $2}' "$TMP/cmp.txt")" 0
expect_eq "output key is the id" "$(awk '$1=="badkey"{print $2}' "$TMP/cmp.txt")" 0
expect_eq "output names model, top 3, account, ts" "$(awk '$1=="badfields"{print $2}' "$TMP/cmp.txt")" 0
expect_eq "dead-letter topic is empty" "$(wc -l <"$TMP/dlq.txt")" 0
port=$(admin_port w)
curl -s "http://127.0.0.1:$port/metrics" >"$TMP/metrics.txt"
expect_eq "metrics count the records in" "$(awk '$1=="triage_records_in_total"{print $2}' "$TMP/metrics.txt")" "$N"
expect_eq "metrics count the records out" "$(awk '$1=="triage_records_out_total"{print $2}' "$TMP/metrics.txt")" "$N"
check "metrics show batches of up to 500" grep -q 'triage_batch_size_bucket{le="500"}' "$TMP/metrics.txt"
check "metrics show the model version" grep -q '^triage_model_info{name="default"' "$TMP/metrics.txt"
check "metrics show lag per partition" grep -q '^triage_consumer_lag{topic="in",partition="3"} 0' "$TMP/metrics.txt"
expect_eq "healthz" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")" 200
kill -TERM "$PID_w"
wait "$PID_w"
expect_eq "SIGTERM exits 0" "$?" 0
check "log lines are logfmt with a level" bash -c "grep -v '^ts=[^ ]* level=[a-z]* event=' '$TMP/w.log' | wc -l | grep -qx 0"
finish
