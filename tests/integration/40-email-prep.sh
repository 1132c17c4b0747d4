#!/usr/bin/env bash
# Email text preparation through the CLI: the mode is stored in the model and
# used by eval and classify; a quoted agent reply of another category under
# each airline test tweet leaves `reason` accuracy unchanged with --prep email
# (and is shown to hurt without it); an HTML body with no visible text is a
# no_text record, not a label.
. "$(dirname "$0")/lib.sh"
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[int(k)] if isinstance(d,list) else d[k]
print(d)' "$1"; }

if [ -f "$DATA/airline_train.jsonl" ]; then
    TRAIN=$DATA/airline_train.jsonl TEST=$DATA/airline_test.jsonl LABEL=reason
else
    head -n 3900 "$ROOT/data/sample/airline-tweets.jsonl" >"$TMP/train.jsonl"
    tail -n +3901 "$ROOT/data/sample/airline-tweets.jsonl" >"$TMP/test.jsonl"
    TRAIN=$TMP/train.jsonl TEST=$TMP/test.jsonl LABEL=category
fi

echo "-- a quoted agent reply of another category under each test tweet"
python3 - "$TRAIN" "$TEST" "$LABEL" "$TMP/reply.jsonl" <<'PY'
import json, random, sys
train, test, label, out = sys.argv[1:5]
rnd = random.Random(7)
by = {}
for l in open(train):
    r = json.loads(l)
    if r.get(label):
        by.setdefault(r[label], []).append(r["text"])
labels = sorted(by)
with open(out, "w") as o:
    for l in open(test):
        r = json.loads(l)
        if not r.get(label):
            continue
        q = rnd.choice(by[rnd.choice([x for x in labels if x != r[label]])])
        t = (r["text"] + "\n\nOn Mon, Feb 23, 2015 at 11:41 AM Airline Support <support@airline.example> wrote:\n"
             + "\n".join("> " + x for x in q.split("\n")))
        o.write(json.dumps({"id": r["id"], "text": t, label: r[label]}) + "\n")
PY
"$TRIAGE" train --data "$TRAIN" --label $LABEL --out "$TMP/plain.tmodel" -q
expect_status "train with --prep email" 0 "$TRIAGE" train --data "$TRAIN" --label $LABEL --prep email --out "$TMP/email.tmodel" -q
"$TRIAGE" inspect "$TMP/email.tmodel" --json >"$TMP/inspect.json"
expect_eq "the model stores its preparation" "$(jget meta.prep.mode <"$TMP/inspect.json")" email
acc() { "$TRIAGE" eval --model "$TMP/$1.tmodel" --data "$2" --label $LABEL --json | jget accuracy; }
plain_clean=$(acc plain "$TEST"); plain_reply=$(acc plain "$TMP/reply.jsonl")
email_clean=$(acc email "$TEST"); email_reply=$(acc email "$TMP/reply.jsonl")
echo "   $LABEL accuracy: plain $plain_clean -> $plain_reply with the quoted reply; email $email_clean -> $email_reply"
check "without preparation the quoted reply costs accuracy" awk -v a="$plain_clean" -v b="$plain_reply" 'BEGIN { exit !(a - b > 0.05) }'
check "with --prep email it changes accuracy by less than 1 point" awk -v a="$email_clean" -v b="$email_reply" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d < 0.01) }'

echo "-- classify with the stored mode and fields"
cat >"$TMP/emails.jsonl" <<'J'
{"id":"e1","subject":"Re: booking","html":"<p>My flight was <b>cancelled</b>, please refund me.</p><blockquote>We are happy to help with your lost bag.</blockquote>"}
{"id":"e2","subject":null,"html":"<html><head><style>p{}</style></head><body><img src=x><div hidden>x</div></body></html>"}
{"id":"e3","subject":"Where is my bag","html":"<div>&nbsp;</div>"}
J
"$TRIAGE" train --data "$TRAIN" --label $LABEL --prep email --text subject,html --out "$TMP/html.tmodel" -q 2>"$TMP/train-html.err"
check "records without the model's fields are reported, not trained on" grep -q "no text in subject" "$TMP/train-html.err"
python3 -c '
import json, sys
with open(sys.argv[2], "w") as o:
    for l in open(sys.argv[1]):
        r = json.loads(l)
        if r.get(sys.argv[3]):
            o.write(json.dumps({"id": r["id"], "subject": "", "html": "<p>" + r["text"].replace("&", "&amp;").replace("<", "&lt;") + "</p>", sys.argv[3]: r[sys.argv[3]]}) + "\n")
' "$TRAIN" "$TMP/train-html.jsonl" $LABEL
"$TRIAGE" train --data "$TMP/train-html.jsonl" --label $LABEL --prep email --text subject,html --out "$TMP/html.tmodel" -q
expect_status "classify reads the model's fields; the empty HTML body fails" 1 "$TRIAGE" classify --model "$TMP/html.tmodel" "$TMP/emails.jsonl"
expect_eq "two records labeled" "$(wc -l <"$TMP/out")" 2
check "the HTML body with no visible text is no_text" grep -q ':2: no_text: nothing left after email preparation' "$TMP/err"
check "a subject alone is text" grep -q '"id":"e3"' "$TMP/out"
finish
