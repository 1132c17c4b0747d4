#!/usr/bin/env bash
# Live challenger (issue 14): a worker with model.challenger = next shadow-
# scores every record with the newest version after the pinned champion, on an
# S3 store (scripts/s3-local) and the mock cluster (scripts/kafka-mock).
#  - agreement metrics: records scored = the labeled records (sample 1), or
#    exactly those whose id hash (FNV-1a 64, fmix64) is in the sample (sample 0.3); the
#    per-label agreement is exactly what `triage classify` gives offline with
#    both models; the challenger's labels are never published (no output
#    names it before the promote);
#  - a challenger that cannot keep up (max.pending 1) drops samples and
#    counts them, and every record is still labeled;
#  - `triage promote`: the first store check that begins after it serves the
#    challenger (asserted on the checks counter, not on time), the output
#    switches once per partition (no champion record after a challenger one),
#    records sent afterwards name it, none is lost;
#  - feedback (issue 12's consumer, role alarms) scores the challenger too:
#    its live accuracy (triage_feedback_records_total{model=challenger}) is
#    exactly what `triage classify` with v2 gives on the feedback texts;
#  - a corrupt challenger is refused and the champion goes on serving.
. "$(dirname "$0")/lib.sh"
SAMPLE=$ROOT/data/sample/airline-tweets.jsonl
head -n 2500 "$SAMPLE" >"$TMP/train.jsonl"
"$TRIAGE" train --data "$TMP/train.jsonl" --label category --algo nb --out "$TMP/m1.tmodel" -q
"$TRIAGE" train --data "$TMP/train.jsonl" --label category --algo cnb --ngrams 1-1 --out "$TMP/m2.tmodel" -q
python3 - "$TMP/m2.tmodel" "$TMP/bad.tmodel" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
for i in range(len(b) // 2, len(b) // 2 + 64):
    b[i] ^= 0x5a
open(sys.argv[2], "wb").write(b)
PY

"$ROOT/scripts/s3-local" --dir "$TMP/s3data" >"$TMP/s3.out" 2>"$TMP/s3.err" &
CLEANUP+=("kill $!")
eventually 180 test -s "$TMP/s3.out" || { echo "s3-local did not start: $(cat "$TMP/s3.err")"; exit 1; }
export AWS_ENDPOINT_URL=$(head -1 "$TMP/s3.out") AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3
STORE=s3://models/ch

echo "-- champion v1 (pinned) and challenger v2 in the store"
expect_status "push v1" 0 "$TRIAGE" push "$TMP/m1.tmodel" --store "$STORE"
V1=$(grep -o 'default@[^ ]*' "$TMP/out" | cut -d@ -f2)
expect_status "pin v1" 0 "$TRIAGE" pin "$V1" --store "$STORE"
sleep 0.01 # versions are named by the millisecond
expect_status "push v2" 0 "$TRIAGE" push "$TMP/m2.tmodel" --store "$STORE"
V2=$(grep -o 'default@[^ ]*' "$TMP/out" | cut -d@ -f2)
check "two versions" test -n "$V1" -a -n "$V2" -a "$V1" != "$V2"

start_kafka --brokers 1 --topic in:2 --topic out:2 --topic out2:2 --topic out3:2 --topic dlq:1 --topic fb:2 --topic alarms:1
worker_conf "$TMP/w.conf" g1 "$STORE" "cache.dir = $TMP/cache1" "poll.interval = 1s" "challenger = next" \
    "challenger.max.pending = 1000000"
expect_status "--check-config takes the keys" 0 "$BIN/triaged" -c "$TMP/w.conf" --check-config
expect_status "a challenger name with a slash is refused" 2 "$BIN/triaged" -c "$TMP/w.conf" --check-config \
    --set model.challenger=a/b
expect_status "a sample above 1 is refused" 2 "$BIN/triaged" -c "$TMP/w.conf" --check-config \
    --set model.challenger.sample=1.5
expect_status "a challenger with a model file as source is refused" 2 "$BIN/triaged" -c "$TMP/w.conf" --check-config \
    --set model.source="$TMP/m1.tmodel"

metrics() { curl -s "http://127.0.0.1:$(admin_port "$1")/metrics"; }
has_chal() { metrics "$1" | grep -q "^triage_challenger_info{name=\"default\",version=\"$2\""; }
start_triaged w "$TMP/w.conf"
start_triaged s "$TMP/w.conf" --set input.group=g2 --set output.topic=out2 --set model.cache.dir="$TMP/cache2" \
    --set model.challenger.sample=0.3
start_triaged d "$TMP/w.conf" --set input.group=g3 --set output.topic=out3 --set model.cache.dir="$TMP/cache3" \
    --set model.challenger.max.pending=1 --set batch.size=50
for w in w s d; do
    check "$w: ready" wait_ready "$w" 90
    check "$w: the challenger v2 is loaded" eventually 60 has_chal "$w" "$V2"
done
check "the champion still serves v1" bash -c "curl -s http://127.0.0.1:$(admin_port w)/metrics | grep -q '^triage_model_info{name=\"default\",version=\"$V1\"'"

echo "-- shadow scoring"
keyed_records p1 3000 "$TMP/p1.tsv"
kcat -b "$KAFKA" -P -t in -K '\t' <"$TMP/p1.tsv"
check "every record labeled" wait_count out 3000 120
check "... by the sampling worker" wait_count out2 3000 120
check "... and by the one that cannot keep up" wait_count out3 3000 120
consume out "$TMP/out1.tsv"
consume out2 "$TMP/out2.tsv"
consume out3 "$TMP/out3.tsv"
cut -f2 "$TMP/p1.tsv" >"$TMP/p1.jsonl"
"$TRIAGE" classify --model "$TMP/m1.tmodel" "$TMP/p1.jsonl" >"$TMP/c1.jsonl"
"$TRIAGE" classify --model "$TMP/m2.tmodel" "$TMP/p1.jsonl" >"$TMP/c2.jsonl"
# shadow_figures NAME OUT SAMPLE: waits until the worker's shadow is idle,
# then compares its metrics with the offline figures over the ids of OUT in
# the sample; prints "ok ..." or what differs.
shadow_figures() {
    local name=$1 outf=$2 sample=$3 port
    port=$(admin_port "$name")
    python3 - "$port" "$outf" "$sample" "$TMP/c1.jsonl" "$TMP/c2.jsonl" "$V2" <<'PY'
import json, re, sys, time, urllib.request
port, outf, sample, c1, c2, v2 = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
def fnv(s):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001b3) & (2**64 - 1)
    for m in (0xff51afd7ed558ccd, 0xc4ceb9fe1a85ec53):   # murmur3 fmix64
        h = ((h ^ (h >> 33)) * m) & (2**64 - 1)
    return h ^ (h >> 33)
champ = {json.loads(l)["id"]: json.loads(l)["label"] for l in open(c1)}
chal = {json.loads(l)["id"]: json.loads(l)["label"] for l in open(c2)}
want_rec, want_agree, labeled = {}, {}, 0
for line in open(outf):
    k, v = line.rstrip("\n").split("\t", 1)
    r = json.loads(v)
    labeled += 1
    if r["label"] != champ[k]:
        sys.exit("daemon label %s != classify %s for %s" % (r["label"], champ[k], k))
    if sample < 1 and fnv(k) >= int(sample * 2**64):
        continue
    want_rec[r["label"]] = want_rec.get(r["label"], 0) + 1
    want_agree[r["label"]] = want_agree.get(r["label"], 0) + (chal[k] == r["label"])
pat = re.compile(r'^triage_challenger_(records|agree)_total\{model="default@%s",label="((?:[^"\\]|\\.)*)"\} (\S+)$' % re.escape(v2))
for _ in range(300):
    text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port).read().decode()
    got = {"records": {}, "agree": {}}
    for l in text.splitlines():
        m = pat.match(l)
        if m:
            got[m.group(1)][m.group(2)] = int(float(m.group(3)))
    pend = re.search(r"^triage_challenger_pending_records (\S+)$", text, re.M)
    drop = re.search(r"^triage_challenger_dropped_total (\S+)$", text, re.M)
    dropped = int(float(drop.group(1))) if drop else -1
    if pend and float(pend.group(1)) == 0 and sum(got["records"].values()) + dropped >= sum(want_rec.values()):
        break
    time.sleep(0.2)
print("labeled=%d sampled=%d scored=%d agree=%d dropped=%d" % (labeled, sum(want_rec.values()),
      sum(got["records"].values()), sum(got["agree"].values()), dropped))
if dropped == 0 and got["records"] == want_rec and got["agree"] == want_agree:
    print("ok")
elif dropped > 0 and sum(got["records"].values()) + dropped == sum(want_rec.values()):
    print("dropped")
else:
    print("records got %s want %s; agree got %s want %s" % (got["records"], want_rec, got["agree"], want_agree))
PY
}
shadow_figures w "$TMP/out1.tsv" 1 >"$TMP/fig.w"; cat "$TMP/fig.w"
expect_eq "sample 1: every labeled record shadow-scored, agreement per label as computed offline" "$(tail -1 "$TMP/fig.w")" ok
check "the models do disagree somewhere (the check can fail)" \
    python3 -c 'import re,sys; m=re.search(r"scored=(\d+) agree=(\d+)", open(sys.argv[1]).read()); sys.exit(not (int(m[1]) > int(m[2]) > 0))' "$TMP/fig.w"
shadow_figures s "$TMP/out2.tsv" 0.3 >"$TMP/fig.s"; cat "$TMP/fig.s"
expect_eq "sample 0.3: exactly the ids whose hash is in the sample, agreement as offline" "$(tail -1 "$TMP/fig.s")" ok
check "... a real subset" python3 -c 'import re,sys; m=re.search(r"labeled=(\d+) sampled=(\d+)", open(sys.argv[1]).read()); sys.exit(not (0 < int(m[2]) < int(m[1])))' "$TMP/fig.s"
shadow_figures d "$TMP/out3.tsv" 1 >"$TMP/fig.d"; cat "$TMP/fig.d"
expect_eq "max.pending 1: samples dropped and counted (scored + dropped = sampled), no record held" "$(tail -1 "$TMP/fig.d")" dropped
expect_eq "... and every record labeled once" "$(cut -f1 "$TMP/out3.tsv" | sort -u | wc -l)" 3000
status() { curl -s "http://127.0.0.1:$(admin_port w)/api/status"; }
check "the status page's data has the challenger, per label" bash -c "curl -s http://127.0.0.1:$(admin_port w)/api/status | python3 -c 'import json,sys; c=json.load(sys.stdin)[\"challenger\"]; sys.exit(not (c[\"model\"] == \"default@$V2\" and c[\"records\"] > 0 and len(c[\"labels\"]) > 1))'"
check "the status page draws a challenger section" bash -c "curl -s http://127.0.0.1:$(admin_port w)/ | grep -q 'id=\"challenger\"'"
models_named() { cut -f2 "$1" | python3 -c 'import json,sys; print(" ".join(sorted({json.loads(l)["model"] for l in sys.stdin})))'; }
expect_eq "no output names the challenger before the promote" "$(models_named "$TMP/out1.tsv")" "default@$V1"

echo "-- feedback scores the challenger"
start_triaged f "$TMP/w.conf" --set role=alarms --set feedback.topic=fb --set alarms.topic=alarms \
    --set alarms.group=ga --set alarms.state.file="$TMP/alarms.json" --set model.cache.dir="$TMP/cache4"
check "f: the challenger v2 is loaded (alarms role, feedback consumer)" eventually 90 has_chal f "$V2"
# 600 corrections of phase 1's records: the sample's category as settled label,
# the champion's output as predicted.
python3 - "$SAMPLE" "$TMP/out1.tsv" "$TMP/c2.jsonl" "$TMP/fb.tsv" "$TMP/fb.want" <<'PY'
import json, sys
src = [json.loads(l) for l in open(sys.argv[1])]
out = dict(l.rstrip("\n").split("\t", 1) for l in open(sys.argv[2]))
chal = {json.loads(l)["id"]: json.loads(l)["label"] for l in open(sys.argv[3])}
champ_right = chal_right = n = 0
with open(sys.argv[4], "w") as o:
    for i in range(0, 3000, 5):
        k = "p1-%d" % i
        s, p = src[i % len(src)], json.loads(out[k])
        o.write(k + "\t" + json.dumps({"id": k, "label": s["category"], "predicted": p["label"], "model": p["model"],
                                       "text": s["text"]}) + "\n")
        n += 1
        champ_right += p["label"] == s["category"]
        chal_right += chal[k] == s["category"]
open(sys.argv[5], "w").write("%d %d %d %d %d\n" % (n, champ_right, n - champ_right, chal_right, n - chal_right))
PY
kcat -b "$KAFKA" -P -t fb -K '\t' <"$TMP/fb.tsv"
read -r FN CH_OK CH_BAD X_OK X_BAD <"$TMP/fb.want"
fbcount() { metrics f | awk -v m="model=\"default@$1\",outcome=\"$2\"" 'index($0, "triage_feedback_records_total{" m "}") == 1 { print $2 + 0 }'; }
fb_done() { local a b; a=$(fbcount "$V2" confirmed) b=$(fbcount "$V2" corrected); [ $(( ${a:-0} + ${b:-0} )) -ge "$FN" ]; }
check "the challenger's feedback is tallied" eventually 60 fb_done
expect_eq "challenger: confirmed as triage classify with v2 gives" "$(fbcount "$V2" confirmed)" "$X_OK"
expect_eq "challenger: corrected likewise" "$(fbcount "$V2" corrected)" "$X_BAD"
expect_eq "champion: confirmed (the feedback's own predicted)" "$(fbcount "$V1" confirmed)" "$CH_OK"
check "the two differ (the check can fail)" test "$X_OK" != "$CH_OK"
check "the status data gives the challenger's live accuracy beside the champion's" bash -c "curl -s http://127.0.0.1:$(admin_port f)/api/status | python3 -c 'import json,sys; f=json.load(sys.stdin)[\"challenger\"][\"feedback\"]; sys.exit(not (f[\"challenger\"][\"records\"] == $FN and f[\"champion\"][\"records\"] == $FN and f[\"challenger\"][\"right\"] == $X_OK and abs(f[\"challenger\"][\"accuracy\"] - $X_OK / $FN) < 1e-5))'"
kill -TERM "$PID_f"
wait "$PID_f"; expect_eq "the feedback worker stops cleanly" "$?" 0

kill -TERM "$PID_s" "$PID_d"
wait "$PID_s"; expect_eq "the sampling worker stops cleanly" "$?" 0
wait "$PID_d"; expect_eq "the dropping worker stops cleanly" "$?" 0

echo "-- promote while records flow"
checks() { metrics w | awk '$1 == "triage_model_checks_total{result=\"ok\"}" { print $2 }'; }
keyed_records p2 3000 "$TMP/p2.tsv"
pace 600 <"$TMP/p2.tsv" | kcat -b "$KAFKA" -P -t in -K '\t' &
PRODUCER=$!
eventually 30 bash -c "[ \"\$(kcat -b $KAFKA -C -t out -e -q -f '%k\n' 2>/dev/null | grep -c '^p2-')\" -ge 300 ]"
expect_status "triage promote" 0 "$TRIAGE" promote --store "$STORE"
C0=$(checks)
check "promote names the challenger" grep -q "promoted default to $V2" "$TMP/out"
# The check after the next one began after the promote: by then v2 serves.
snap_after() { metrics w >"$TMP/snap"; awk -v c="$1" '$1 == "triage_model_checks_total{result=\"ok\"}" { exit !($2 + 0 >= c) } END { }' "$TMP/snap" && grep -q '^triage_model_checks_total{result="ok"}' "$TMP/snap"; }
check "two more store checks complete" eventually 60 snap_after $((C0 + 2))
check "in that snapshot, v2 serves" grep -q "^triage_model_info{name=\"default\",version=\"$V2\"" "$TMP/snap"
check "and there is no challenger any more" bash -c "! grep -q '^triage_challenger_info' '$TMP/snap'"
check "the loaded challenger was swapped in, not loaded again" grep -q "event=challenger_promoted .*version=\"\\?$V2" "$TMP/w.log"
wait "$PRODUCER"
keyed_records p3 1000 "$TMP/p3.tsv"
kcat -b "$KAFKA" -P -t in -K '\t' <"$TMP/p3.tsv"
check "every record labeled" wait_count out 7000 120
kcat -b "$KAFKA" -C -t out -e -q -f '%p\t%o\t%k\t%s\n' >"$TMP/outall.tsv" 2>/dev/null
read -r lost ids p3v1 mixed p2v1 p2v2 <<<"$(python3 - "$TMP/outall.tsv" "$V1" "$V2" <<'PY'
import json, sys
v1, v2 = "default@" + sys.argv[2], "default@" + sys.argv[3]
want = {"p%d-%d" % (p, i) for p, n in ((1, 3000), (2, 3000), (3, 1000)) for i in range(n)}
seen, last, mixed, p3v1, p2 = set(), {}, 0, 0, {v1: 0, v2: 0}
for line in sorted((l.rstrip("\n").split("\t", 3) for l in open(sys.argv[1])), key=lambda f: (int(f[0]), int(f[1]))):
    part, off, key, val = line
    m = json.loads(val)["model"]
    seen.add(key)
    if last.get(part) == v2 and m == v1:
        mixed += 1
    last[part] = m
    if key.startswith("p3-") and m != v2:
        p3v1 += 1
    if key.startswith("p2-"):
        p2[m] = p2.get(m, 0) + 1
print(len(want - seen), len(seen), p3v1, mixed, p2[v1], p2[v2])
PY
)"
expect_eq "none lost (input ids missing from the output)" "$lost" 0
expect_eq "every id out" "$ids" 7000
expect_eq "no champion record after a challenger record in any partition" "$mixed" 0
expect_eq "records sent after the switch name v2" "$p3v1" 0
echo "  (records sent during the promote: $p2v1 by v1, $p2v2 by v2)"

echo "-- a corrupt challenger"
REF0=$(metrics w | awk '/^triage_model_refusals_total/ { s += $2 } END { print s + 0 }')
sleep 0.01
V3=$(date -u +%Y%m%dT%H%M%S.%3NZ)
expect_status "upload a corrupt v3 beside the model files" 0 "$BIN/store-cli" put "$STORE" "default/$V3.tmodel" "$TMP/bad.tmodel"
check "it is refused as challenger" eventually 30 grep -q "event=model_refused .*role=challenger .*version=\"\\?$V3" "$TMP/w.log"
check "and counted" eventually 10 bash -c "[ \"\$(curl -s http://127.0.0.1:$(admin_port w)/metrics | awk '/^triage_model_refusals_total/ { s += \$2 } END { print s + 0 }')\" -gt $REF0 ]"
keyed_records p4 1000 "$TMP/p4.tsv"
kcat -b "$KAFKA" -P -t in -K '\t' <"$TMP/p4.tsv"
check "records after it are labeled" wait_count out 8000 120
consume out "$TMP/out4.tsv"
expect_eq "by the champion v2, none lost" "$(grep -P '^p4-' "$TMP/out4.tsv" | cut -f2 | python3 -c 'import json,sys; print(len(set(json.loads(l)["id"] for l in sys.stdin if json.loads(l)["model"] == "default@" + sys.argv[1])))' "$V2")" 1000
check "the champion still serves v2" bash -c "curl -s http://127.0.0.1:$(admin_port w)/metrics | grep -q '^triage_model_info{name=\"default\",version=\"$V2\"'"
kill -TERM "$PID_w"
wait "$PID_w"; expect_eq "the worker stops cleanly on SIGTERM" "$?" 0
finish
