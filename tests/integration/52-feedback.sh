#!/usr/bin/env bash
# Corrections flow back (issue 12), against scripts/kafka-mock and scripts/s3-local:
# a worker (role all) labels the airline test tweets with a champion trained on
# 1,500 training tweets; a connector publishes 1,000 agents' final labels for
# them on the feedback topic, a third of them corrections, plus records that
# cannot be used. The live accuracy metrics are exactly what the feedback says,
# the unusable records are dead-lettered with their reason and source offset,
# and a quality alarm rises because the live accuracy is well below the
# model's held-out one. `triage retrain` trains on base + feedback with the
# champion's settings and pushes a model that passes the gate; the worker
# serves it. A retrain on feedback with shuffled labels is refused by the gate.
. "$(dirname "$0")/lib.sh"
TRAIN=$DATA/airline_train.jsonl
TEST=$DATA/airline_test.jsonl
[ -f "$TRAIN" ] && [ -f "$TEST" ] || { echo "needs the shared airline data (../shared/data)"; exit 1; }
PY=/usr/bin/python3

# ---- store and champion ----
"$ROOT/scripts/s3-local" --dir "$TMP/s3" >"$TMP/s3.out" 2>"$TMP/s3.err" &
CLEANUP+=("kill $!")
for _ in $(seq 1 300); do [ -s "$TMP/s3.out" ] && break; sleep 0.1; done
S3URL=$(head -1 "$TMP/s3.out")
[ -n "$S3URL" ] || { echo "s3-local did not start: $(cat "$TMP/s3.err")"; exit 1; }
export AWS_ENDPOINT_URL=$S3URL AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
STORE=s3://models/fb

head -n 1500 "$TRAIN" >"$TMP/base.jsonl"
"$TRIAGE" train --data "$TMP/base.jsonl" --label sentiment --name airline --out "$TMP/champ.tmodel" -q
expect_status "push the champion" 0 "$TRIAGE" push "$TMP/champ.tmodel" --store "$STORE" --name airline
V1=$(grep -o 'airline@[^ ]*' "$TMP/out" | head -1 | cut -d@ -f2)
HOLDOUT=$("$TRIAGE" inspect "$TMP/champ.tmodel" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["meta"]["holdout"]["accuracy"])')
# The alarm's limit (held-out accuracy - margin) at 0.72: 667 right of 1,000
# is below it with 95% confidence (Wilson upper bound 0.696).
MARGIN=$($PY -c "print(round($HOLDOUT - 0.72, 6))")
check "the champion's held-out accuracy ($HOLDOUT) leaves room for the alarm's margin" \
    $PY -c "import sys; sys.exit(not $MARGIN > 0)"

# ---- the worker labels the test tweets ----
start_kafka --brokers 1 --topic in:2 --topic out:2 --topic dlq:1 --topic fb:2 --topic fbbad:2 --topic alarms:1
worker_conf "$TMP/w.conf" g1 "$STORE" "name = airline" "poll.interval = 1s" "cache.dir = $TMP/cache" \
    "[alarms]" "topic = alarms" "group = g1-alarms" "state.file = $TMP/alarms.json" \
    "[feedback]" "topic = fb" "accuracy.margin = $MARGIN" "min.records = 200" "window = 1000"
start_triaged w "$TMP/w.conf" --set role=all
check "the worker is ready" wait_ready w 90
PORT=$(admin_port w)
$PY - "$TEST" "$TMP/in.txt" <<'PY'
import json, sys
with open(sys.argv[2], "w") as o:
    for l in open(sys.argv[1]):
        r = json.loads(l)
        o.write("%s\t%s\n" % (r["id"], json.dumps({"id": r["id"], "text": r["text"], "ts": r["ts"], "account": r["account"]})))
PY
NTEST=$(wc -l <"$TEST")
kcat -b "$KAFKA" -P -t in -K '\t' <"$TMP/in.txt"
check "every test tweet is labeled" wait_count out "$NTEST" 120
consume out "$TMP/out1.txt"

# ---- the connector: 1,000 final labels, a third corrections, and bad records ----
# The gate: training tweets neither the champion nor any feedback saw (picking
# the feedback by outcome would bias the rest of the test tweets).
sed -n '6001,9000p' "$TRAIN" >"$TMP/gate.jsonl"
$PY - "$TEST" "$TMP/out1.txt" "$TMP/fb.txt" "$TMP/expected.json" <<'PY'
import json, random, sys
test = {str(json.loads(l)["id"]): json.loads(l) for l in open(sys.argv[1])}
out = {}
for line in open(sys.argv[2]):
    k, v = line.rstrip("\n").split("\t", 1)
    out[k] = json.loads(v)
right = [i for i in test if out[i]["label"] == test[i]["sentiment"]]
wrong = [i for i in test if out[i]["label"] != test[i]["sentiment"]]
assert len(wrong) >= 333, len(wrong)
ids = right[:667] + wrong[:333]
random.Random(5).shuffle(ids)
exp = {"confirmed": 667, "corrected": 333, "model": out[ids[0]]["model"], "labels": {}}
with open(sys.argv[3], "w") as o:
    for n, i in enumerate(ids):
        t, p = test[i], out[i]
        rec = {"id": t["id"], "label": t["sentiment"], "predicted": p["label"], "model": p["model"],
               "text": t["text"], "account": t["account"], "agent": "agent-%d" % (n % 7), "ts": t["ts"]}
        o.write("%s\t%s\n" % (i, json.dumps(rec)))
        e = exp["labels"].setdefault(t["sentiment"], [0, 0])
        e[0] += 1
        e[1] += p["label"] == t["sentiment"]
    # kept for retraining, not counted: no prediction
    extra = [i for i in test if i not in set(ids)][0]
    o.write("%s\t%s\n" % (extra, json.dumps({"id": test[extra]["id"], "label": test[extra]["sentiment"], "text": test[extra]["text"]})))
    o.write("bad-1\tthis is not json\n")
    o.write("bad-2\t%s\n" % json.dumps({"id": "bad-2", "text": "no label given", "predicted": "neutral", "model": exp["model"]}))
    o.write("bad-3\t%s\n" % json.dumps({"id": "bad-3", "label": "neutral", "predicted": "neutral", "model": exp["model"]}))
    o.write("bad-4\t%s\n" % json.dumps({"id": "bad-4", "label": {"x": 1}, "text": "label is an object"}))
json.dump(exp, open(sys.argv[4], "w"))
PY
MODEL=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["model"])' "$TMP/expected.json")
expect_eq "the outputs name the champion" "$MODEL" "airline@$V1"
kcat -b "$KAFKA" -P -t fb -K '\t' <"$TMP/fb.txt"
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
all_counted() {
    [ "$(metric "triage_feedback_records_total{model=\"$MODEL\",outcome=\"confirmed\"}")" = 667 ] &&
        [ "$(metric "triage_feedback_records_total{model=\"$MODEL\",outcome=\"corrected\"}")" = 333 ]
}
check "1,000 feedback records counted: 667 confirmed, 333 corrected" eventually 60 all_counted
curl -s "http://127.0.0.1:$PORT/metrics" >"$TMP/metrics.txt"
check "triage_feedback_accuracy is 0.667 and each label's share is exact" $PY - "$TMP/metrics.txt" "$TMP/expected.json" <<'PY'
import json, re, sys
exp = json.load(open(sys.argv[2]))
m = {}
for line in open(sys.argv[1]):
    if line.startswith("triage_feedback"):
        k, v = line.rsplit(" ", 1)
        m[k] = float(v)
model = exp["model"]
acc = m['triage_feedback_accuracy{model="%s"}' % model]
if abs(acc - 0.667) > 1e-9:
    sys.exit("accuracy %r" % acc)
if abs(m['triage_feedback_accuracy_recent{model="%s"}' % model] - 0.667) > 1e-9:
    sys.exit("recent")
for label, (n, right) in exp["labels"].items():
    got = m['triage_feedback_accuracy_label{model="%s",label="%s"}' % (model, label)]
    if abs(got - right / n) > 1e-9:
        sys.exit("%s: %r, expected %d/%d" % (label, got, right, n))
    print("  label %s: %d/%d = %.4f" % (label, right, n, right / n))
if m.get("triage_feedback_untallied_total") != 1:
    sys.exit("untallied %r" % m.get("triage_feedback_untallied_total"))
PY

# ---- bad feedback: dead letters with reason and source offset ----
dead_in() { [ "$(kcat -b "$KAFKA" -C -t dlq -e -q -f '%s\n' 2>/dev/null | grep -c '"topic":"fb"')" -ge 4 ]; }
check "the four unusable feedback records reach the dead-letter topic" eventually 60 dead_in
kcat -b "$KAFKA" -C -t dlq -e -q -f '%s\n' >"$TMP/dlq.txt" 2>/dev/null
kcat -b "$KAFKA" -C -t fb -e -q -f '%k\t%p\t%o\n' >"$TMP/fb-offsets.txt" 2>/dev/null
check "each with its reason and the partition and offset it came from, valid by the schema" $PY - "$TMP/dlq.txt" "$TMP/fb-offsets.txt" "$ROOT/docs/dead-letter.schema.json" <<'PY'
import json, sys
import jsonschema
schema = json.load(open(sys.argv[3]))
src = {}
for line in open(sys.argv[2]):
    k, p, o = line.rstrip("\n").split("\t")
    src[k] = (int(p), int(o))
want = {"bad-1": "not_json", "bad-2": "no_label", "bad-3": "no_text", "bad-4": "bad_field"}
got = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d.get("topic") != "fb":
        continue
    key = [k for k, po in src.items() if po == (d["partition"], d["offset"])]
    if len(key) != 1:
        sys.exit("no source record at %s" % line)
    got[key[0]] = d["error"]
    jsonschema.validate(d, schema)
    if d.get("payload_bytes", 0) <= 0:
        sys.exit("payload missing: " + line)
if got != want:
    sys.exit("%r != %r" % (got, want))
PY
expect_eq "counted by reason" "$(metric 'triage_feedback_dead_lettered_total{reason="no_label"}')" 1
# The alarms role reads the same dead-letter topic: feedback's are not the
# classify traffic's (its dead-letter share would rise with bad feedback).
# One bad input record, dead-lettered after the feedback ones (one partition):
# once the alarms role has counted it, it has read past them.
printf 'bad-input\tnot json either\n' | kcat -b "$KAFKA" -P -t in -K '\t'
alarms_counted() { [ "$(metric triage_alarm_dead_letters_total)" -ge 1 ] 2>/dev/null; }
check "the alarms role counts the bad input's dead letter" eventually 60 alarms_counted
expect_eq "and none of the four feedback dead letters as the traffic's" "$(metric triage_alarm_dead_letters_total)" 1

# ---- the quality alarm: live accuracy well below the held-out one ----
alarm_in() { kcat -b "$KAFKA" -C -t alarms -e -q -f '%s\n' 2>/dev/null | grep '"label":"feedback_accuracy"' | grep -q '"type":"alarm"'; }
check "a quality alarm (feedback_accuracy) is published for $MODEL" eventually 30 alarm_in
kcat -b "$KAFKA" -C -t alarms -e -q -f '%s\n' 2>/dev/null | grep '"feedback_accuracy"' | head -1 >"$TMP/alarm.json"
check "it names the model, the live and the held-out accuracy" $PY - "$TMP/alarm.json" "$MODEL" "$HOLDOUT" <<'PY'
import json, sys
a = json.loads(open(sys.argv[1]).read())
ok = a["kind"] == "quality" and a["model"] == sys.argv[2] and abs(a["expected"] - float(sys.argv[3])) < 1e-4 and a["observed"] < 0.72
sys.exit(0 if ok else "bad event %r" % a)
PY
curl -s "http://127.0.0.1:$PORT/api/status" >"$TMP/status.json"
check "the status API shows the model's live accuracy and its alarm" $PY - "$TMP/status.json" "$MODEL" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["feedback"]
m = [x for x in s["models"] if x["model"] == sys.argv[2]][0]
ok = m["records"] == 1000 and m["right"] == 667 and m["alarm"] is True and s["dead_lettered"] == 4 and s["untallied"] == 1
sys.exit(0 if ok else "status %r" % s)
PY
check "the status page has a feedback section" bash -c "curl -s http://127.0.0.1:$PORT/ | grep -q 'id=\"feedback\"'"

# ---- retrain without a gate file: a share of the feedback ids is the gate ----
"$TRIAGE" retrain --feedback "$KAFKA/fb" --base "$TMP/base.jsonl" --store "$STORE" --name airline --dry-run \
    >"$TMP/dry.out" 2>"$TMP/dry.err"
sed 's/^/  | /' "$TMP/dry.out"
check "a seeded share of the feedback ids is held out, not trained on, and is the gate" $PY - "$TMP/dry.out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
held = int(re.search(r"1001 ids from feedback, (\d+) of them held out for the gate", t).group(1))
trained = int(re.search(r"^trained svm \(.*\) on (\d+) records", t, re.M).group(1))
gated = int(re.search(r"^gate on \S+ \((\d+) labeled records\)", t, re.M).group(1))
sys.exit(0 if 100 < held < 300 and gated == held and trained == 2501 - held else "held %d gated %d trained %d" % (held, gated, trained))
PY
"$TRIAGE" models --store "$STORE" --name airline --json >"$TMP/models0.json"
expect_eq "--dry-run publishes nothing" "$($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["versions"]))' "$TMP/models0.json")" 1

# ---- retrain: base + feedback, the champion's settings, through the gate ----
T0=$(date +%s.%N)
expect_status "triage retrain passes the gate and pushes" 0 "$TRIAGE" retrain --feedback "$KAFKA/fb" \
    --base "$TMP/base.jsonl" --store "$STORE" --name airline --gate "$TMP/gate.jsonl"
T1=$(date +%s.%N)
cp "$TMP/out" "$TMP/retrain1.out"
sed 's/^/  | /' "$TMP/retrain1.out"
echo "  retrain took $($PY -c "print(round($T1 - $T0, 2))") s"
check "it read the whole topic: 1,005 records, 4 unusable" grep -q '^read 1005 feedback records from fb .*(4 unusable, skipped); 1001 ids from feedback' "$TMP/retrain1.out"
check "trained with the champion's settings on base + feedback (2,501 records)" grep -q "^trained svm (the settings of airline@$V1) on 2501 records" "$TMP/retrain1.out"
check "the comparison is printed and the challenger is not worse" $PY - "$TMP/retrain1.out" <<'PY'
import re, sys
m = re.search(r"^gate on \S+ \((\d+) labeled records\): challenger ([0-9.]+), champion \S+ ([0-9.]+)", open(sys.argv[1]).read(), re.M)
sys.exit(0 if m and int(m.group(1)) == 3000 and float(m.group(2)) >= float(m.group(3)) else "no comparison")
PY
V2=$(grep -o 'pushed the retrained model as airline@[^ ]*' "$TMP/retrain1.out" | cut -d@ -f2)
check "a new version was published ($V2)" test -n "$V2" -a "$V2" != "$V1"
"$TRIAGE" models --store "$STORE" --name airline --json >"$TMP/models1.json"
check "its metadata says where it came from" $PY - "$TMP/models1.json" "$V2" "airline@$V1" <<'PY'
import json, sys
v = [x for x in json.load(open(sys.argv[1]))["versions"] if x["version"] == sys.argv[2]]
sys.exit(0 if v and v[0]["meta"]["retrain"]["from"] == sys.argv[3] and v[0]["in_use"] else "no retrain provenance")
PY
serving_v2() { curl -s "http://127.0.0.1:$PORT/api/status" | grep -q "\"version\":\"$V2\""; }
check "the worker picks it up" eventually 60 serving_v2
head -n 20 "$TEST" | $PY -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    i = "%s-again" % r["id"]
    print("%s\t%s" % (i, json.dumps({"id": i, "text": r["text"]})))' >"$TMP/in2.txt"
kcat -b "$KAFKA" -P -t in -K '\t' <"$TMP/in2.txt"
check "new records are labeled" wait_count out "$((NTEST + 20))" 60
consume out "$TMP/out2.txt"
expect_eq "by the retrained model" "$(grep -- '-again' "$TMP/out2.txt" | grep -c "\"model\":\"airline@$V2\"")" 20

# ---- a deliberately worse retrain: shuffled labels ----
$PY - "$TRAIN" "$TMP/fbbad.txt" <<'PY'
import json, random, sys
rows = [json.loads(l) for l in open(sys.argv[1])][1500:5500]
labels = [r["sentiment"] for r in rows]
random.Random(11).shuffle(labels)
with open(sys.argv[2], "w") as o:
    for r, lab in zip(rows, labels):
        o.write("%s\t%s\n" % (r["id"], json.dumps({"id": r["id"], "label": lab, "text": r["text"], "ts": r["ts"]})))
PY
kcat -b "$KAFKA" -P -t fbbad -K '\t' <"$TMP/fbbad.txt"
expect_status "a retrain on 4,000 shuffled labels is refused (exit 1)" 1 "$TRIAGE" retrain --feedback "$KAFKA/fbbad" \
    --base "$TMP/base.jsonl" --store "$STORE" --name airline --gate "$TMP/gate.jsonl"
cat "$TMP/out" "$TMP/err" | sed 's/^/  | /'
check "with the comparison and the reason" grep -q "^triage retrain: refused: the retrained model" "$TMP/err"
check "against the version now in use" grep -q "champion airline@$V2 " "$TMP/out"
"$TRIAGE" models --store "$STORE" --name airline --json >"$TMP/models.json"
expect_eq "nothing more was published" "$($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["versions"]))' "$TMP/models.json")" 2

kill -TERM "$PID_w"
wait "$PID_w"
expect_eq "the worker exits cleanly" "$?" 0

# ---- at-least-once, committed: a restarted worker does not count old feedback again ----
start_triaged w "$TMP/w.conf" --set role=all
PORT=$(admin_port w)
head -n 3 "$TMP/fb.txt" | kcat -b "$KAFKA" -P -t fb -K '\t'
counted3() {
    local c k
    c=$(metric "triage_feedback_records_total{model=\"$MODEL\",outcome=\"confirmed\"}")
    k=$(metric "triage_feedback_records_total{model=\"$MODEL\",outcome=\"corrected\"}")
    [ "$(( ${c:-0} + ${k:-0} ))" -ge 3 ]
}
check "the restarted worker counts the new feedback" eventually 60 counted3
curl -s "http://127.0.0.1:$PORT/api/status" >"$TMP/status2.json"
check "and only the new feedback: the committed records are not read again" $PY - "$TMP/status2.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["feedback"]
sys.exit(0 if s["records"] == 3 and sum(m["records"] for m in s["models"]) == 3 else "status %r" % s)
PY
kill -TERM "$PID_w"
wait "$PID_w"
expect_eq "and exits cleanly" "$?" 0
finish
