#!/usr/bin/env bash
# Models from object storage (s3rver): hot swap under a steady stream with
# two workers, refusal of damaged versions, store outages and the local
# cache, pin/unpin, per-account models with LRU eviction, and the
# champion/challenger gate of `triage push`.
. "$(dirname "$0")/lib.sh"
SAMPLE=$ROOT/data/sample/airline-tweets.jsonl
STORECLI=$BIN/store-cli

# ---- a real S3 API ----
S3DIR=$TMP/s3
mkdir -p "$S3DIR"
start_s3() { # [PORT]
    "$ROOT/scripts/s3-local" --port "${1:-0}" --dir "$S3DIR" >"$TMP/s3.out" 2>"$TMP/s3.err" &
    S3PID=$!
    CLEANUP+=("kill $S3PID")
    local i
    for i in $(seq 1 300); do [ -s "$TMP/s3.out" ] && break; sleep 0.1; done
    S3URL=$(head -1 "$TMP/s3.out")
}
start_s3
[ -n "$S3URL" ] || { echo "s3rver did not start: $(cat "$TMP/s3.err")"; exit 1; }
S3PORT=${S3URL##*:}
export AWS_ENDPOINT_URL=$S3URL AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
STORE=s3://models/triage
echo "-- s3rver at $S3URL"

head -n 3000 "$SAMPLE" >"$TMP/train.jsonl"
tail -n +3001 "$SAMPLE" >"$TMP/test.jsonl"
"$TRIAGE" train --data "$TMP/train.jsonl" --label category --out "$TMP/m1.tmodel" -q
"$TRIAGE" train --data "$TMP/train.jsonl" --label category --out "$TMP/m2.tmodel" -q --alpha 0.5
expect_status "push a first version" 0 "$TRIAGE" push "$TMP/m1.tmodel" --store "$STORE"
V1=$(grep -o 'default@[^ ]*' "$TMP/out" | cut -d@ -f2)
check "versions are sortable UTC stamps ($V1)" bash -c "[[ '$V1' =~ ^[0-9]{8}T[0-9]{6}\\.[0-9]{3}Z$ ]]"
expect_status "models lists it" 0 "$TRIAGE" models --store "$STORE"
check "and marks it in use" grep -q "^\\* $V1" "$TMP/out"

start_kafka --brokers 1 --topic in:4 --topic out:4 --topic dlq:1
conf() { # NAME [extra lines]
    write_conf "$TMP/$1.conf"
    cat >>"$TMP/$1.conf" <<CONF
[input]
topics = in
group = models
[output]
topic = out
dlq.topic = dlq
[model]
source = $STORE
poll.interval = 1s
cache.dir = $TMP/cache-$1
# Account records here must be labeled by their own models however slow a
# load is on a busy machine: wait for it (50-accounts tests the bounded wait).
account.wait = 600s
s3.retries = 1
s3.timeout.ms = 2000
CONF
}
metric() { curl -s "http://127.0.0.1:$(admin_port "$1")/metrics" | grep "^$2" | head -1; }
version_of() { metric "$1" triage_model_info | grep -o 'version="[^"]*"' | cut -d'"' -f2; }
feed() { # PREFIX COUNT RATE [ACCOUNTS...]
    local prefix=$1 n=$2 rate=$3; shift 3
    python3 - "$SAMPLE" "$prefix" "$n" "$rate" "$@" <<'PY' | kcat -b "$KAFKA" -P -t in -K '\t'
import json, sys, time
src = [json.loads(l) for l in open(sys.argv[1])]
prefix, n, rate, accounts = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5:]
t0 = time.time()
for i in range(n):
    r = src[i % len(src)]
    rec = {"id": "%s-%d" % (prefix, i), "text": r["text"]}
    if accounts:
        rec["account"] = accounts[i % len(accounts)]
    print(rec["id"] + "\t" + json.dumps(rec), flush=(i % 50 == 49))
    d = t0 + (i + 1) / rate - time.time()
    if d > 0:
        time.sleep(d)
PY
}
outputs() { consume out "$TMP/o.txt"; grep -F "\"$1-" "$TMP/o.txt" | cut -f2-; }

echo "-- a new version under a steady stream, two workers"
conf w1; conf w2
start_triaged w1 "$TMP/w1.conf"; start_triaged w2 "$TMP/w2.conf"
check "worker 1 ready on $V1" wait_ready w1
check "worker 2 ready" wait_ready w2
feed swap 4000 400 &
FEED=$!
sleep 4
"$TRIAGE" push "$TMP/m2.tmodel" --store "$STORE" >"$TMP/push2.txt"
V2=$(grep -o 'default@[^ ]*' "$TMP/push2.txt" | cut -d@ -f2)
pushed=$(date +%s.%N)
for w in w1 w2; do
    for i in $(seq 1 40); do [ "$(version_of $w)" = "$V2" ] && break; sleep 0.1; done
    # When the worker swapped, from its own log, against when the push returned.
    switched=$(python3 - "$TMP/$w.log" "$V2" "$pushed" <<'PY'
import re, sys, datetime
for line in open(sys.argv[1]):
    if "event=model_loaded" in line and sys.argv[2] in line:
        t = datetime.datetime.strptime(line[3:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
        print("%.2f" % (t.timestamp() - float(sys.argv[3]))); break
else:
    print("never")
PY
)
    expect_eq "$w switched to $V2 (${switched} s after the push returned; poll interval 1 s)" "$(version_of $w)" "$V2"
done
wait "$FEED"
wait_count out 4000 60 >/dev/null
sleep 1
outputs swap >"$TMP/swap.txt"
python3 - "$TMP/swap.txt" "$V1" "$V2" >"$TMP/cmp.txt" <<'PY'
import json, sys, collections
rows = [json.loads(l) for l in open(sys.argv[1])]
ids = collections.Counter(r["id"] for r in rows)
vers = collections.Counter(r["model"].split("@")[1] for r in rows)
print("lost", 4000 - len(ids)); print("dups", sum(ids.values()) - len(ids))
print("v1", vers[sys.argv[2]]); print("v2", vers[sys.argv[3]]); print("other", sum(vers.values()) - vers[sys.argv[2]] - vers[sys.argv[3]])
PY
sed 's/^/   /' "$TMP/cmp.txt"
expect_eq "no record lost by the swap" "$(awk '$1=="lost"{print $2}' "$TMP/cmp.txt")" 0
expect_eq "no record duplicated by the swap" "$(awk '$1=="dups"{print $2}' "$TMP/cmp.txt")" 0
check "records before the swap carry $V1" test "$(awk '$1=="v1"{print $2}' "$TMP/cmp.txt")" -gt 0
check "records after it carry $V2" test "$(awk '$1=="v2"{print $2}' "$TMP/cmp.txt")" -gt 0
expect_eq "and no other version" "$(awk '$1=="other"{print $2}' "$TMP/cmp.txt")" 0

echo "-- damaged versions are refused, the current one keeps serving"
size=$(stat -c %s "$TMP/m2.tmodel")
cp "$TMP/m2.tmodel" "$TMP/bad-checksum.tmodel"
printf '\x5a' | dd of="$TMP/bad-checksum.tmodel" bs=1 seek=$((size / 2)) conv=notrunc status=none
head -c $((size / 3)) "$TMP/m2.tmodel" >"$TMP/bad-truncated.tmodel"
cp "$TMP/m2.tmodel" "$TMP/bad-version.tmodel"
# Format 2 is current (character n-grams, IDF): a future version 9 is the one to refuse.
printf '\x09' | dd of="$TMP/bad-version.tmodel" bs=1 seek=8 conv=notrunc status=none
/usr/bin/python3 - "$TMP/m2.tmodel" "$TMP/bad-probe_mismatch.tmodel" <<'PY'
# A well-formed model (valid checksum) whose probe texts expect the wrong labels.
# The METADATA section is rewritten in place; sections after it move by a multiple
# of 8 bytes (the new JSON is padded with spaces) so their alignment holds.
import json, struct, sys, xxhash
d = bytearray(open(sys.argv[1], "rb").read())
nsec = struct.unpack_from("<I", d, 32)[0]
ents = [struct.unpack_from("<IIQQ", d, 64 + 24 * i) for i in range(nsec)]
for i, (sid, _, off, ln) in enumerate(ents):
    if sid == 7:
        meta = json.loads(bytes(d[off:off + ln]))
        labels = list(meta["labels"])
        for p in meta["probes"]:
            p["label"] = next(l for l in labels if l != p["label"])
        new = json.dumps(meta).encode()
        delta = len(new) - ln
        delta += (-delta) % 8
        new += b" " * (ln + delta - len(new))
        d = d[:off] + new + d[off + ln:]
        struct.pack_into("<Q", d, 64 + 24 * i + 16, len(new))
        for j, (sj, _, oj, lj) in enumerate(ents):
            if oj > off:
                struct.pack_into("<Q", d, 64 + 24 * j + 8, oj + delta)
struct.pack_into("<Q", d, 16, len(d))
struct.pack_into("<Q", d, 24, 0)
struct.pack_into("<Q", d, 24, xxhash.xxh64(bytes(d), seed=0).intdigest())
open(sys.argv[2], "wb").write(d)
PY
n=0
for reason in checksum truncated version probe_mismatch; do
    n=$((n + 1))
    bad="29990101T00000$n.000Z"
    "$STORECLI" put "$STORE" "default/$bad.tmodel" "$TMP/bad-$reason.tmodel" >/dev/null
    for i in $(seq 1 50); do metric w1 "triage_model_refusals_total{reason=\"$reason\"}" | grep -q ' 1$' && break; sleep 0.1; done
    check "a $reason object is refused with its reason in the metrics" bash -c "curl -s http://127.0.0.1:$(admin_port w1)/metrics | grep -q '^triage_model_refusals_total{reason=\"$reason\"} 1'"
    check "... and in the log" grep -q "event=model_refused .*version=\"$bad\" reason=$reason" "$TMP/w1.log"
    expect_eq "... and $V2 keeps serving" "$(version_of w1)" "$V2"
    "$STORECLI" rm "$STORE" "default/$bad.tmodel" >/dev/null
done
feed after-bad 100 1000
check "records still flow after the refusals" wait_count out 4100 30

echo "-- pin and unpin"
expect_status "pin $V1" 0 "$TRIAGE" pin "$V1" --store "$STORE"
for i in $(seq 1 40); do [ "$(version_of w1)" = "$V1" ] && [ "$(version_of w2)" = "$V1" ] && break; sleep 0.1; done
expect_eq "worker 1 rolled back to $V1" "$(version_of w1)" "$V1"
expect_eq "worker 2 rolled back to $V1" "$(version_of w2)" "$V1"
"$TRIAGE" models --store "$STORE" >"$TMP/models.txt"
check "models marks the pinned version in use" grep -q "^\\* $V1 .*(pinned)" "$TMP/models.txt"
expect_status "pinning a version that does not exist fails" 1 "$TRIAGE" pin 20000101T000000.000Z --store "$STORE"
expect_status "unpin" 0 "$TRIAGE" unpin --store "$STORE"
for i in $(seq 1 40); do [ "$(version_of w1)" = "$V2" ] && [ "$(version_of w2)" = "$V2" ] && break; sleep 0.1; done
expect_eq "worker 1 rolled forward to $V2" "$(version_of w1)" "$V2"
expect_eq "worker 2 rolled forward to $V2" "$(version_of w2)" "$V2"

echo "-- the store goes away"
before=$(topic_count out)
kill "$S3PID"; wait "$S3PID" 2>/dev/null
sleep 2.5
feed outage 200 1000
check "with the store down the workers keep labeling" wait_count out $((before + 200)) 30
check "... and say why in the log" eventually 10 grep -q "event=store_unreachable" "$TMP/w1.log"
expect_eq "worker 1 still serves $V2" "$(version_of w1)" "$V2"
kill -TERM "$PID_w1"; wait "$PID_w1"
start_triaged w1 "$TMP/w1.conf"
if wait_ready w1 30; then ok "restarted with the store down, worker 1 loads its cache and becomes ready"
else fail "restarted with the store down, worker 1 becomes ready ($(curl -s "http://127.0.0.1:$(admin_port w1)/readyz" | tr '\n' ' '); port $(admin_port w1))"; fi
check "... from the cache" grep -q 'event=model_loaded .*from=cache' "$TMP/w1.log"
conf w3
sed -i 's/group = models/group = models-w3/' "$TMP/w3.conf"
start_triaged w3 "$TMP/w3.conf"
sleep 4
expect_eq "no cache and no store: not ready" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(admin_port w3)/readyz")" 503
check "... and consuming nothing" bash -c "! grep -q event=consuming '$TMP/w3.log'"
start_s3 "$S3PORT"
check "once the store is back it loads and becomes ready" wait_ready w3 30
kill -TERM "$PID_w3"; wait "$PID_w3"

echo "-- per-account models, LRU eviction"
grep '"account": "United"' "$SAMPLE" | head -1200 >"$TMP/united.jsonl"
grep '"account": "Delta"' "$SAMPLE" | head -1200 >"$TMP/delta.jsonl"
"$TRIAGE" train --data "$TMP/united.jsonl" --label category --out "$TMP/united.tmodel" -q --min-df 1
"$TRIAGE" train --data "$TMP/delta.jsonl" --label category --out "$TMP/delta.tmodel" -q --min-df 1
"$TRIAGE" push "$TMP/united.tmodel" --store "$STORE" --account United >/dev/null
"$TRIAGE" push "$TMP/delta.tmodel" --store "$STORE" --account Delta >/dev/null
VU=$("$TRIAGE" models --store "$STORE" --account United --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["in_use"])')
VD=$("$TRIAGE" models --store "$STORE" --account Delta --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["in_use"])')
# A budget below the two account models together forces evictions. The
# budget holds: a batch cannot have both models at once, so records are
# labeled by the default while their model loads (model.account.wait = 0
# here; waiting would only delay the same outcome, a batch's models must fit
# the budget together) and the output says so.
for w in w1 w2; do kill -TERM "$(eval echo \$PID_$w)"; wait "$(eval echo \$PID_$w)"; done
for w in w1 w2; do
    echo "cache.max.bytes = 1200KB" >>"$TMP/$w.conf"
    start_triaged "$w" "$TMP/$w.conf" --set model.account.wait=0
done
for w in w1 w2; do wait_ready "$w" 30 >/dev/null; done
before=$(topic_count out)
feed acct 1500 500 United Delta American
check "every account record is labeled" wait_count out $((before + 1500)) 60
sleep 1
outputs acct >"$TMP/acct.txt"
python3 - "$TMP/acct.txt" "$VU" "$VD" "$V2" >"$TMP/cmp.txt" <<'PY'
import json, sys, collections
rows = [json.loads(l) for l in open(sys.argv[1])]
want = {"United": "accounts/United@" + sys.argv[2], "Delta": "accounts/Delta@" + sys.argv[3], "American": "default@" + sys.argv[4]}
dflt = "default@" + sys.argv[4]
wrong = [r for r in rows if r["model"] not in (want[r["account"]], dflt)]
print("records", len(set(r["id"] for r in rows)))
print("wrong", len(wrong), wrong[:2])
print("own", sum(r["model"] == want[r["account"]] for r in rows if r["account"] != "American"))
PY
sed 's/^/   /' "$TMP/cmp.txt"
expect_eq "all 1500 account records labeled" "$(awk '$1=="records"{print $2}' "$TMP/cmp.txt")" 1500
expect_eq "each labeled by its account's model or, while it loads, the default (American by the default)" \
    "$(awk '$1=="wrong"{print $2}' "$TMP/cmp.txt")" 0
expect_ge "account records labeled by their own model" "$(awk '$1=="own"{print $2}' "$TMP/cmp.txt")" 1
ev=0
for w in w1 w2; do e=$(metric "$w" triage_account_model_evictions_total | awk '{print $2}'); ev=$((ev + ${e:-0})); done
check "the cache budget forced evictions and reloads ($ev evictions)" test "$ev" -gt 0

echo "-- the champion/challenger gate"
head -n 300 "$TMP/train.jsonl" >"$TMP/tenth.jsonl"
"$TRIAGE" train --data "$TMP/tenth.jsonl" --label category --out "$TMP/tenth.tmodel" -q
"$TRIAGE" train --data "$TMP/train.jsonl" --label category --out "$TMP/full.tmodel" -q
"$TRIAGE" push "$TMP/full.tmodel" --store "$STORE" --name gated >/dev/null
expect_status "a model trained on a tenth of the data is refused" 1 "$TRIAGE" push "$TMP/tenth.tmodel" --store "$STORE" --name gated --gate "$TMP/test.jsonl" --label category
sed 's/^/   /' "$TMP/out"
check "the refusal names both accuracies" grep -q "does not beat" "$TMP/err"
expect_eq "nothing was published" "$("$TRIAGE" models --store "$STORE" --name gated --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["versions"]))')" 1
"$TRIAGE" train --data "$TMP/train.jsonl" --label category --out "$TMP/full2.tmodel" -q
expect_status "one trained on all of it is accepted" 0 "$TRIAGE" push "$TMP/full2.tmodel" --store "$STORE" --name gated --gate "$TMP/test.jsonl" --label category
sed 's/^/   /' "$TMP/out"
for w in w1 w2; do kill -TERM "$(eval echo \$PID_$w)"; wait "$(eval echo \$PID_$w)"; expect_eq "$w exits 0" "$?" 0; done
finish
