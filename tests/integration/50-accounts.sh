#!/usr/bin/env bash
# Per-account models on a small synthetic platform (scripts/gen-platform over
# the shipped sample): `triage push --tree` publishes a tree of models with
# and without the gate (only models that beat what serves their records are
# published; an equal one is not), and `triage promote` moves the champion
# PIN to the challenger.
. "$(dirname "$0")/lib.sh"
SAMPLE=$ROOT/data/sample/airline-tweets.jsonl
STORE=file://$TMP/store
mkdir -p "$TMP/store"

"$ROOT/scripts/gen-platform" --accounts 4 --records 3000 --source "$SAMPLE" >"$TMP/platform.jsonl"
check "gen-platform writes the records asked for" test "$(wc -l <"$TMP/platform.jsonl")" = 3000
check "with the label field and account of every record" \
    python3 -c 'import json,sys; all(json.loads(l)["category"] and json.loads(l)["account"] for l in open(sys.argv[1])) or sys.exit(1)' "$TMP/platform.jsonl"
check "accounts follow a Zipf-like spread" \
    test "$(grep -c '"acct-0001"' "$TMP/platform.jsonl")" -gt "$(grep -c '"acct-0004"' "$TMP/platform.jsonl")"

# A tree as `triage train --per-account` lays it out: the last tenth of each
# account's records held out.
make_tree() { # DIR [extra train options]
    local dir=$1 a n h; shift
    mkdir -p "$dir/default"
    : >"$dir/default/holdout.jsonl"
    : >"$TMP/all-train.jsonl"
    for a in acct-0001 acct-0002 acct-0003 acct-0004; do
        mkdir -p "$dir/accounts/$a"
        grep "\"$a\"" "$TMP/platform.jsonl" >"$TMP/$a.jsonl"
        n=$(wc -l <"$TMP/$a.jsonl"); h=$((n / 10))
        head -n $((n - h)) "$TMP/$a.jsonl" >"$TMP/$a.train.jsonl"
        tail -n "$h" "$TMP/$a.jsonl" >"$dir/accounts/$a/holdout.jsonl"
        cat "$TMP/$a.train.jsonl" >>"$TMP/all-train.jsonl"
        cat "$dir/accounts/$a/holdout.jsonl" >>"$dir/default/holdout.jsonl"
        "$TRIAGE" train --data "$TMP/$a.train.jsonl" --label category --out "$dir/accounts/$a/model.tmodel" -q "$@"
    done
    "$TRIAGE" train --data "$TMP/all-train.jsonl" --label category --out "$dir/default/model.tmodel" -q "$@"
}
make_tree "$TMP/tree"

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

finish
