#!/usr/bin/env bash
# Per-account models on a small synthetic platform (scripts/gen-platform over
# the shipped sample): `triage train --per-account` trains one model per
# account with enough records (its own labels, the same trainer settings as
# train) and the default without any account's held-out records, and
# reports own against default; `triage push --tree` publishes that tree with
# and without the gate (only models that beat what serves their records are
# published; an equal one is not), and `triage promote` moves the champion
# PIN to the challenger. Then a worker serves the tree: records wait (a bounded
# time) for their account's model, or with model.account.wait = 0 the default
# labels them while it loads; none is lost and the output names the model.
. "$(dirname "$0")/lib.sh"
SAMPLE=$ROOT/data/sample/airline-tweets.jsonl
STORE=file://$TMP/store
mkdir -p "$TMP/store"

"$ROOT/scripts/gen-platform" --accounts 6 --records 3000 --source "$SAMPLE" >"$TMP/platform.jsonl"
check "gen-platform writes the records asked for" test "$(wc -l <"$TMP/platform.jsonl")" = 3000
check "with the label field and account of every record" \
    python3 -c 'import json,sys; all(json.loads(l)["category"] and json.loads(l)["account"] for l in open(sys.argv[1])) or sys.exit(1)' "$TMP/platform.jsonl"
check "accounts follow a Zipf-like spread" \
    test "$(grep -c '"acct-0001"' "$TMP/platform.jsonl")" -gt "$(grep -c '"acct-0006"' "$TMP/platform.jsonl")"

echo "-- train --per-account"
count() { grep -c "\"$1\"" "$TMP/platform.jsonl"; }
MIN=$(( $(count acct-0004) ))    # acct-0005 and acct-0006 have fewer: the default serves them
expect_status "train --per-account account" 0 "$TRIAGE" train --per-account account --min-records "$MIN" \
    --data "$TMP/platform.jsonl" --label category --algo cnb --jobs 2 --out "$TMP/tree"
cp "$TMP/out" "$TMP/train.out"
for a in acct-0001 acct-0002 acct-0003 acct-0004; do
    check "$a has a model and its held-out records" test -s "$TMP/tree/accounts/$a/model.tmodel" -a -s "$TMP/tree/accounts/$a/holdout.jsonl"
done
check "accounts below --min-records have none" test ! -e "$TMP/tree/accounts/acct-0005" -a ! -e "$TMP/tree/accounts/acct-0006"
check "the default has a model" test -s "$TMP/tree/default/model.tmodel"
expect_eq "a tenth of each account is held out" "$(wc -l <"$TMP/tree/accounts/acct-0001/holdout.jsonl")" "$(( $(count acct-0001) / 10 ))"
check "held out records are the account's own" bash -c "! grep -qv '\"acct-0002\"' '$TMP/tree/accounts/acct-0002/holdout.jsonl'"
expect_eq "the default's held-out records are every account's" "$(wc -l <"$TMP/tree/default/holdout.jsonl")" \
    "$(cat "$TMP"/tree/accounts/*/holdout.jsonl | wc -l)"
labels_of() { "$TRIAGE" inspect "$1" --json | python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin)["labels"])))'; }
expect_eq "an account's model knows its own labels only" "$(labels_of "$TMP/tree/accounts/acct-0003/model.tmodel")" \
    "$(grep '"acct-0003"' "$TMP/platform.jsonl" | python3 -c 'import json,sys; print(" ".join(sorted({json.loads(l)["category"] for l in sys.stdin})))')"
algo_of() { "$TRIAGE" inspect "$1" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["meta"]["algo"], d["meta"]["label_field"], d["meta"].get("account"))'; }
expect_eq "with the trainer settings given (--algo cnb)" "$(algo_of "$TMP/tree/accounts/acct-0002/model.tmodel")" "cnb category acct-0002"
expect_eq "the report has a line per account" "$(wc -l <"$TMP/tree/report.jsonl")" 6
check "two accounts skipped for too few records" test "$(grep -c '"skipped":"too few records"' "$TMP/tree/report.jsonl")" = 2
check "the default's accuracy in the report is what eval measures on the same records" python3 - "$TMP/tree/report.jsonl" "$TRIAGE" "$TMP/tree" <<'PY'
import json, subprocess, sys
rep, triage, tree = sys.argv[1:]
for line in open(rep):
    r = json.loads(line)
    if "skipped" in r:
        continue
    ev = json.loads(subprocess.run([triage, "eval", "--model", tree + "/default/model.tmodel", "--data",
                                    tree + "/accounts/" + r["account"] + "/holdout.jsonl", "--label", "category",
                                    "--json"], check=True, capture_output=True).stdout)
    if abs(ev["accuracy"] - r["default_accuracy"]) > 1e-6 or r["wins"] != (r["accuracy"] > r["default_accuracy"]):
        sys.exit(f"{r} vs eval {ev['accuracy']}")
    if r["held_out"] != ev["records"]:
        sys.exit(f"{r} held out vs {ev['records']}")
PY
check "the summary gives the share of wins and the mean gain" grep -qE '^own model wins on [0-4] of 4 accounts .*gain [+-]0\.[0-9]{4}$' "$TMP/train.out"
expect_status "--per-account needs a holdout" 2 "$TRIAGE" train --per-account account --holdout 0 --data "$TMP/platform.jsonl" --label category --out "$TMP/t2"

echo "-- train --per-account --tune"
expect_status "--tune without --per-account is refused" 2 "$TRIAGE" train --tune --data "$TMP/platform.jsonl" --label category --out "$TMP/t2"
expect_status "--budget without --tune is refused" 2 "$TRIAGE" train --per-account account --budget 3s --data "$TMP/platform.jsonl" --label category --out "$TMP/t2"
expect_status "train --per-account --tune --trials 3" 0 "$TRIAGE" train --per-account account --min-records "$MIN" \
    --data "$TMP/platform.jsonl" --label category --algo cnb --jobs 2 --out "$TMP/tuned" --tune --trials 3 --folds 3
check "the summary says how many were tuned" grep -q '^tuned 4 of 4 account models (12 trials in all)' "$TMP/out"
check "each account's report line has its search: 3 trials, the settings it chose, their CV accuracy" \
    python3 - "$TMP/tuned/report.jsonl" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "skipped" in r:
        continue
    t = r["tune"]
    assert t["trials"] == 3 and 0 <= t["trial"] < 3 and 0 < t["cv_accuracy"] <= 1 and t["settings"], r
    n += 1
assert n == 4, n
PY
tune_of() { "$TRIAGE" inspect "$1" --json | python3 -c 'import json,sys; t=json.load(sys.stdin)["meta"]["tune"]; print(t["trials"], t["folds"])'; }
expect_eq "the model carries its search in its metadata" "$(tune_of "$TMP/tuned/accounts/acct-0002/model.tmodel")" "3 3"
expect_eq "tuning holds out the same records (the comparison with the default stays fair)" \
    "$(cat "$TMP/tuned/accounts/acct-0001/holdout.jsonl" | md5sum)" "$(cat "$TMP/tree/accounts/acct-0001/holdout.jsonl" | md5sum)"
check "the default keeps the settings given (not tuned)" \
    bash -c "'$TRIAGE' inspect '$TMP/tuned/default/model.tmodel' --json | python3 -c 'import json,sys; m=json.load(sys.stdin)[\"meta\"]; sys.exit(\"tune\" in m or m[\"algo\"] != \"cnb\")'"
expect_status "train --per-account --tune --budget 4s (2 threads)" 0 "$TRIAGE" train --per-account account --min-records "$MIN" \
    --data "$TMP/platform.jsonl" --label category --algo cnb --jobs 2 --out "$TMP/tuned2" --tune --budget 4s -q
check "the budget is shared by records: 4 s x 2 threads over the accounts, each its share" \
    python3 - "$TMP/tuned2/report.jsonl" <<'PY'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
rs = [r for r in rs if "skipped" not in r]
total = sum(r["records"] for r in rs)
assert abs(sum(r["tune"]["budget_s"] for r in rs) - 8.0) < 0.01, rs
for r in rs:
    assert abs(r["tune"]["budget_s"] - 8.0 * r["records"] / total) < 0.002, r
    assert r["tune"]["trials"] >= 1, r
PY

echo "-- push --tree --gate on an empty store"
expect_status "push --tree --gate" 0 "$TRIAGE" push --tree "$TMP/tree" --store "$STORE" --gate --jobs 3
cp "$TMP/out" "$TMP/push1.out"
check "the default is published first (nothing in use)" grep -q '^default: published .*nothing in use' "$TMP/push1.out"
check "every account is compared with the default just published" \
    test "$(grep -c '^accounts/acct-000[1-4]: .* vs default@' "$TMP/push1.out")" = 4
PUB=$(grep -c '^accounts/.*: published' "$TMP/push1.out")
check "the summary counts what was published and kept" \
    grep -q "^summary: 4 accounts: $PUB published, $((4 - PUB)) kept the version in use, 0 failed; default: published" "$TMP/push1.out"
check "only the published accounts are in the store" \
    test "$(ls "$TMP/store/accounts" 2>/dev/null | wc -l)" = "$PUB"
check "a published account beat the default on its held-out records" \
    python3 - "$TMP/push1.out" <<'PY'
import re, sys
for line in open(sys.argv[1]):
    m = re.match(r"accounts/\S+: (published|kept).*\((\S+) vs \S+ (\S+) on", line)
    if m and (m.group(1) == "published") != (float(m.group(2)) > float(m.group(3))):
        sys.exit("wrong decision: " + line)
PY

echo "-- the same tree again: equal models are not published"
expect_status "push --tree --gate again" 0 "$TRIAGE" push --tree "$TMP/tree" --store "$STORE" --gate
check "nothing published" grep -q '^summary: 4 accounts: 0 published, 4 kept the version in use, 0 failed; default: kept' "$TMP/out"

echo "-- without the gate every model is published, in parallel"
expect_status "push --tree (no gate)" 0 "$TRIAGE" push --tree "$TMP/tree" --store "$STORE" --jobs 4
check "all published" grep -q '^summary: 4 accounts: 4 published, 0 kept the version in use, 0 failed; default: published' "$TMP/out"
check "each account has its version" test "$(ls "$TMP"/store/accounts/*/*.tmodel | wc -l)" -ge 4
expect_status "--tree refuses a MODEL argument" 2 "$TRIAGE" push --tree "$TMP/tree" x.tmodel --store "$STORE"
expect_status "--tree refuses --account" 2 "$TRIAGE" push --tree "$TMP/tree" --account acct-0001 --store "$STORE"
expect_status "--tree on an empty directory fails" 1 "$TRIAGE" push --tree "$TMP/store/nothing" --store "$STORE"

echo "-- promote: the challenger becomes the champion"
A=--account=acct-0001
expect_status "promote with no pin: the newest serves already" 1 "$TRIAGE" promote --store "$STORE" $A
check "and says so" grep -q 'no challenger' "$TMP/err"
CHAMP=$("$TRIAGE" models --store "$STORE" $A --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["in_use"])')
expect_status "pin the champion" 0 "$TRIAGE" pin "$CHAMP" --store "$STORE" $A
expect_status "push a challenger" 0 "$TRIAGE" push "$TMP/tree/accounts/acct-0001/model.tmodel" --store "$STORE" $A
NEXT=$(grep -o 'acct-0001@[^ ]*' "$TMP/out" | cut -d@ -f2)
check "the champion still serves" test "$(cat "$TMP/store/accounts/acct-0001/PIN")" = "$CHAMP"
expect_status "promote (next)" 0 "$TRIAGE" promote --store "$STORE" $A
check "shows champion and challenger" grep -q "champion   $CHAMP" "$TMP/out"
check "the PIN names the challenger" test "$(cat "$TMP/store/accounts/acct-0001/PIN")" = "$NEXT"
expect_status "promote again: no challenger left" 1 "$TRIAGE" promote --store "$STORE" $A
expect_status "promote an unknown version" 1 "$TRIAGE" promote 20200101T000000.000Z --store "$STORE" $A
expect_status "promote a named version (back to the old champion)" 0 "$TRIAGE" promote "$CHAMP" --store "$STORE" $A
check "the PIN names it" test "$(cat "$TMP/store/accounts/acct-0001/PIN")" = "$CHAMP"
expect_status "promote takes one version at most" 2 "$TRIAGE" promote a b --store "$STORE" $A

echo "-- serving the tree: wait for an account's model, or label with the default while it loads"
start_kafka --brokers 1 --topic in:2 --topic out:2 --topic out2:2 --topic dlq:1
python3 -c 'import json,sys
for l in open(sys.argv[1]): print(json.loads(l)["id"] + "\t" + l.rstrip("\n"))' "$TMP/platform.jsonl" >"$TMP/keyed.tsv"
kcat -b "$KAFKA" -P -t in -K '\t' <"$TMP/keyed.tsv"
N=$(wc -l <"$TMP/keyed.tsv")
worker_conf "$TMP/w.conf" gw "$STORE" "cache.dir = $TMP/cache-w"
start_triaged wait "$TMP/w.conf" --set model.account.wait=30s
check "waiting: every record labeled" wait_count out "$N" 120
start_triaged nowait "$TMP/w.conf" --set model.account.wait=0 --set input.group=gn --set output.topic=out2 \
    --set model.cache.dir="$TMP/cache-n"
check "default while loading: every record labeled" wait_count out2 "$N" 120
routes() { # TOPIC: distinct ids, then records by own model, by default, by another model; own/default per account kind
    consume "$1" "$TMP/$1.tsv"
    python3 - "$TMP/$1.tsv" <<'PY'
import json, sys
ids, own, dflt, wrong, big_default = set(), 0, 0, 0, 0
for line in open(sys.argv[1]):
    k, v = line.rstrip("\n").split("\t", 1)
    r = json.loads(v)
    ids.add(k)
    m = r["model"].rsplit("@", 1)[0]
    has_model = r["account"] in ("acct-0001", "acct-0002", "acct-0003", "acct-0004")
    if has_model and m == "accounts/" + r["account"]:
        own += 1
    elif m == "default":
        dflt += 1
        big_default += has_model
    else:
        wrong += 1
print(len(ids), own, dflt, wrong, big_default)
PY
}
read -r ids own dflt wrong big <<<"$(routes out)"
expect_eq "waiting: each record once" "$ids" "$N"
expect_eq "waiting: no record labeled by another account's model" "$wrong" 0
expect_eq "waiting: every record of an account with a model labeled by it" "$big" 0
expect_eq "waiting: the others by the default" "$dflt" "$(grep -c '"acct-000[56]"' "$TMP/platform.jsonl")"
lookups() { curl -s "http://127.0.0.1:$(admin_port "$1")/metrics" | awk -v r="result=\"$2\"" 'index($0, "triage_account_model_lookups_total{" r "}") == 1 { print $2 }'; }
expect_ge "waiting: lookups that waited are counted" "$(lookups wait wait)" 1
expect_ge "waiting: hits are counted" "$(lookups wait hit)" 1
read -r ids own dflt wrong big <<<"$(routes out2)"
expect_eq "default while loading: each record once" "$ids" "$N"
expect_eq "default while loading: no record labeled by another account's model" "$wrong" 0
expect_ge "default while loading: records of accounts with a model labeled by the default (and said so)" "$big" 1
expect_ge "default while loading: and by their own once loaded" "$own" 1
expect_ge "default while loading: counted" "$(lookups nowait default_while_loading)" "$big"
expect_eq "default while loading: nothing waited" "$(lookups nowait wait)" ""
kill -TERM "$PID_wait" "$PID_nowait"
wait "$PID_wait"; expect_eq "the waiting worker stops cleanly on SIGTERM" "$?" 0
wait "$PID_nowait"; expect_eq "the other one too" "$?" 0

finish
