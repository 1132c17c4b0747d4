#!/usr/bin/env bash
# Why a text got its label: `triage classify --explain` and the daemon's
# POST /classify?explain=1 on the admin server. A word planted in every
# training text of one label ("zorblax" in the Lost Luggage tweets) is the
# n-gram that weighs most when it decides a text, for svm and nb; the
# endpoint answers the labeled record the daemon would publish (schema 2),
# refuses bad records with the dead-letter code, and bounds its body
# (input.max.bytes: 413 from the declared length, a chunked body over it
# is cut off), while the daemon stays healthy.
. "$(dirname "$0")/lib.sh"
SAMPLE=$ROOT/data/sample/airline-tweets.jsonl

python3 - "$SAMPLE" "$TMP/train.jsonl" <<'PY'
import json, sys
with open(sys.argv[2], "w") as o:
    for l in open(sys.argv[1]):
        r = json.loads(l)
        if r["category"] == "Lost Luggage":
            r["text"] += " zorblax"
        o.write(json.dumps(r) + "\n")
PY
TEXT='{"id":"q1","text":"@Delta zorblax please answer me today"}'
top_of() { python3 -c '
import json, sys
o = json.loads(sys.stdin.readline()); e = o["explain"]
print("\t".join(map(str, (o["label"], e["top"][0]["ngram"], e["rule"], len(e["tokens"]), e["prepared"] == sys.argv[1]))))' "$1"; }

for algo in svm nb; do
    "$TRIAGE" train --data "$TMP/train.jsonl" --label category --algo $algo --chars none --out "$TMP/$algo.tmodel" -q
    echo "$TEXT" | "$TRIAGE" classify --model "$TMP/$algo.tmodel" --explain >"$TMP/$algo.explain"
    IFS=$'\t' read -r label first rule ntok same < <(top_of "@Delta zorblax please answer me today" <"$TMP/$algo.explain")
    expect_eq "$algo: classify --explain labels the planted text Lost Luggage" "$label" "Lost Luggage"
    expect_eq "$algo: the planted word is the n-gram that weighed most" "$first" zorblax
    expect_eq "$algo: with the prepared text and its 6 tokens" "$same $ntok" "True 6"
    [ $algo = svm ] && want="value x weight" || want="value x (weight - runner-up weight)"
    expect_eq "$algo: ranked by $want" "$rule" "$want"
done
echo "$TEXT" | "$TRIAGE" classify --model "$TMP/nb.tmodel" >"$TMP/plain.txt"
check "without --explain the record has no explain member" python3 -c '
import json, sys; o = json.load(open(sys.argv[1])); assert "explain" not in o and o["lang"] == "en", o' "$TMP/plain.txt"

echo "-- POST /classify on the daemon's admin server"
"$TRIAGE" train --data "$TMP/train.jsonl" --label category --out "$TMP/m.tmodel" -q
start_kafka --brokers 1 --topic in:1 --topic out:1 --topic dlq:1
worker_conf "$TMP/w.conf" explain "$TMP/m.tmodel" "[input]" "max.bytes = 4096"
start_triaged w "$TMP/w.conf"
check "worker becomes ready" wait_ready w
PORT=$(admin_port w)
U=http://127.0.0.1:$PORT/classify
post() { curl -s -m 10 -o "$TMP/body" -w '%{http_code}' -X POST "$@"; }

expect_eq "a record is classified" "$(post "$U" -d '{"id":"a1","text":"where is my bag","channel":"web"}')" 200
check "as the labeled record the daemon publishes (schema 2, passthrough), without explain" python3 -c '
import json, sys; o = json.load(open(sys.argv[1]))
assert o["id"] == "a1" and o["schema"] == 2 and o["lang"] == "en" and o["channel"] == "web", o
assert o["model"].startswith("default@") and "explain" not in o and o["excerpt"] == "where is my bag", o' "$TMP/body"
expect_eq "explain=1 is answered" "$(post "$U?explain=1" --data-binary "$TEXT")" 200
check "with the explanation: the planted word weighed most" python3 -c '
import json, sys; o = json.load(open(sys.argv[1])); e = o["explain"]
assert o["label"] == "Lost Luggage" and e["label"] == o["label"], o["label"]
assert e["top"][0]["ngram"] == "zorblax" and e["prepared"].endswith("answer me today"), e["top"][:3]
assert "zorblax" in e["tokens"] and e["features"]["known"] == len(e["ngrams"]) and len(e["top"]) <= 10, e["features"]
' "$TMP/body"
expect_eq "a German text: its lang, marked for review" \
    "$(post "$U" -d '{"id":"g","text":"Mein Koffer ist nicht angekommen und niemand antwortet mir"}'; python3 -c '
import json, sys; o = json.load(open(sys.argv[1])); print("", o["lang"], o.get("review_reason"))' "$TMP/body")" "200 de lang"
expect_eq "not JSON: 400" "$(post "$U" -d 'nope')" 400
check "with the dead-letter code" grep -q '"error":"not_json"' "$TMP/body"
expect_eq "no text: 400" "$(post "$U" -d '{"id":"n1"}')" 400
check "with the dead-letter code" grep -q '"error":"missing_text"\|"error":"no_text"' "$TMP/body"
expect_eq "GET is not allowed" "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$U")" 405
head -c 5000 /dev/zero | tr '\0' a >"$TMP/big"
expect_eq "a body over input.max.bytes (4096) is refused from its length" "$(post "$U" --data-binary @"$TMP/big")" 413
head -c 4000 /dev/zero | tr '\0' a >"$TMP/fits"
expect_eq "one under the limit is read (and is not JSON)" "$(post "$U" --data-binary @"$TMP/fits")" 400
head -c 3000000 /dev/zero | tr '\0' a >"$TMP/huge"
code=$(post "$U" -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/huge")
check "a chunked body over the limit is cut off, unanswered (got $code)" test "$code" != 200 -a "$code" != 400
expect_eq "the daemon stays healthy" "$(curl -s -m 10 "http://127.0.0.1:$PORT/healthz")" ok
echo '{"id":"k1","text":"my bag is lost zorblax"}' | kcat -b "$KAFKA" -P -t in
check "and keeps labeling the input topic" wait_count out 1 60
kill -TERM "$PID_w"; wait "$PID_w"
expect_eq "it stops cleanly (ASan: no leak of the endpoint's scorer or model)" $? 0
finish
