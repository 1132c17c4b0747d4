#!/usr/bin/env bash
# Bad input interleaved with good: every bad record lands in the dead-letter
# topic with the right code and its source offset (payload kept, as text or
# base64), every good one is labeled, and the worker keeps running.
. "$(dirname "$0")/lib.sh"

"$TRIAGE" train --data "$ROOT/data/sample/airline-tweets.jsonl" --label category --out "$TMP/m.tmodel" -q
python3 - "$ROOT/data/sample/airline-tweets.jsonl" "$TMP/in.bin" "$TMP/expect.json" <<'PY'
import json, random, sys
random.seed(3)
good = [json.loads(l) for l in open(sys.argv[1])][:300]
bad = [
    ("not_json", b'{"id": "b1", "text": "cut short'),
    ("not_json", bytes(random.choice(list(range(1, 10)) + list(range(11, 256))) for _ in range(120))),
    ("not_object", b'["id", "text"]'),
    ("missing_id", b'{"text": "where is my bag"}'),
    ("no_text", b'{"id": "b5", "text": "   "}'),
    ("no_text", b'{"id": "b6"}'),
    ("invalid_utf8", b'{"id": "b7", "text": "bad \xc3\x28 bytes"}'),
    ("too_large", json.dumps({"id": "b8", "text": "x " * 3000}).encode()),
    ("bad_id", b'{"id": 1.5, "text": "float id"}'),
]
out, expect, gi = [], {"bad": [], "good": []}, 0
for i in range(len(good) + len(bad)):
    if i % 31 == 7 and bad:
        code, payload = bad.pop(0)
        expect["bad"].append({"offset": len(out), "code": code, "payload": payload.hex()})
        out.append(payload)
    elif gi < len(good):
        r = good[gi]; gi += 1
        expect["good"].append(r["id"])
        out.append(json.dumps({"id": r["id"], "text": r["text"], "account": r["account"]}).encode())
for code, payload in bad:
    expect["bad"].append({"offset": len(out), "code": code, "payload": payload.hex()})
    out.append(payload)
assert all(b"\n" not in p for p in out)
open(sys.argv[2], "wb").write(b"\n".join(out) + b"\n")
json.dump(expect, open(sys.argv[3], "w"))
PY
NGOOD=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["good"]))' "$TMP/expect.json")
NBAD=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["bad"]))' "$TMP/expect.json")
echo "-- $NGOOD good and $NBAD bad records on one partition"

start_kafka --brokers 1 --topic in:1 --topic out:2 --topic dlq:1
worker_conf "$TMP/w.conf" badinput "$TMP/m.tmodel" "[input]" "max.bytes = 4096"
start_triaged w "$TMP/w.conf"
check "worker becomes ready" wait_ready w
kcat -b "$KAFKA" -P -t in -p 0 <"$TMP/in.bin"
# A tombstone (null value) is bad input too.
printf 'tomb\t\n' | kcat -b "$KAFKA" -P -t in -p 0 -K '\t' -Z
python3 - "$TMP/expect.json" "$(wc -l <"$TMP/in.bin")" <<'PY'
import json, sys
e = json.load(open(sys.argv[1])); e["bad"].append({"offset": int(sys.argv[2]), "code": "not_json", "payload": ""})
json.dump(e, open(sys.argv[1], "w"))
PY
NBAD=$((NBAD + 1))
check "all good records are labeled" wait_count out "$NGOOD" 60
check "all bad records are dead-lettered" wait_count dlq "$NBAD" 60
sleep 1
consume out "$TMP/out.txt"
kcat -b "$KAFKA" -C -t dlq -e -q -f '%s\n' >"$TMP/dlq.txt" 2>/dev/null
python3 - "$TMP/expect.json" "$TMP/out.txt" "$TMP/dlq.txt" >"$TMP/cmp.txt" <<'PY'
import base64, json, sys
exp = json.load(open(sys.argv[1]))
got = [json.loads(l.split("\t", 1)[1]) for l in open(sys.argv[2])]
print("good_ok", sorted(r["id"] for r in got) == sorted(exp["good"]))
dead = {}
for l in open(sys.argv[3]):
    r = json.loads(l); dead[r["offset"]] = r
wrong = []
for b in exp["bad"]:
    r = dead.get(b["offset"])
    if not r:
        wrong.append(("missing", b["offset"], b["code"])); continue
    p = r["payload"].encode() if "payload" in r else base64.b64decode(r.get("payload_base64", ""))
    want = bytes.fromhex(b["payload"])
    if r.get("payload_truncated"):
        ok_payload = want.startswith(p) and r["payload_bytes"] == len(want)
    else:
        ok_payload = p == want
    if r["error"] != b["code"] or r["topic"] != "in" or r["partition"] != 0 or not ok_payload or not r["detail"]:
        wrong.append((b["offset"], b["code"], r["error"], ok_payload))
print("bad_wrong", len(wrong), wrong[:3])
print("dead_total", len(dead))
PY
sed 's/^/   /' "$TMP/cmp.txt"
expect_eq "every good record labeled" "$(awk '$1=="good_ok"{print $2}' "$TMP/cmp.txt")" True
expect_eq "every bad record dead-lettered with its code, offset and payload" "$(awk '$1=="bad_wrong"{print $2}' "$TMP/cmp.txt")" 0
expect_eq "nothing else dead-lettered" "$(awk '$1=="dead_total"{print $2}' "$TMP/cmp.txt")" "$NBAD"
check "the worker never restarted" kill -0 "$PID_w"
port=$(admin_port w)
curl -s "http://127.0.0.1:$port/metrics" >"$TMP/metrics.txt"
check "metrics count dead letters by reason" grep -q '^triage_records_dead_lettered_total{reason="too_large"} 1' "$TMP/metrics.txt"
expect_eq "metrics count 3 not_json (cut short, binary, tombstone)" "$(awk -F' ' '/^triage_records_dead_lettered_total\{reason="not_json"\}/{print $2}' "$TMP/metrics.txt")" 3
kill -TERM "$PID_w"; wait "$PID_w"
expect_eq "SIGTERM exits 0" "$?" 0
finish
