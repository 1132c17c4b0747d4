#!/usr/bin/env bash
# Per-account models at scale, behaviour only (scripts/bench-accounts gives the
# figures): 40 account models (scripts/gen-platform, `train --per-account`)
# served from s3rver.
#   - memory: with a cache budget that holds a few of them, the memory account
#     models hold (triage_account_models_peak_bytes: weights and scorers, idle
#     or lent, taken before any eviction) never exceeds the budget plus the
#     stated constant: the scorers one batch may make on the pool
#     (BATCH_SCORERS_KEPT = 8 per worker, a few hundred KB each). Batches
#     waiting for loads hold no model, so they cannot pin more than that.
#   - parallel loads: a batch asks for all of its missing models at once, and
#     up to model.load.parallel of them load together (the running peak);
#   - every record is labeled once, by its account's model or by the default
#     (while its model loads, after model.account.wait), never by another's;
#   - a budget below one batch's models does not stall the partitions for
#     model.account.wait per batch: with a 10-minute wait, when no load runs
#     and no batch is being labeled the waiting batch goes on at once with the
#     default for what is not in memory (triage_account_model_waits_cut_total);
#   - a re-push of 3 accounts' models fetches those 3 again and no other
#     (GETs of model files in s3rver's request log).
. "$(dirname "$0")/lib.sh"
SAMPLE=$ROOT/data/sample/airline-tweets.jsonl

"$ROOT/scripts/gen-platform" --accounts 40 --records 8000 --source "$SAMPLE" >"$TMP/platform.jsonl"
"$TRIAGE" train --per-account account --min-records 20 --data "$TMP/platform.jsonl" --label category --algo cnb \
    --jobs 2 --out "$TMP/tree" -q >/dev/null
expect_eq "40 account models trained" "$(ls "$TMP/tree/accounts" | wc -l)" 40

S3DIR=$TMP/s3
mkdir -p "$S3DIR"
"$ROOT/scripts/s3-local" --dir "$S3DIR" --log "$TMP/s3.log" >"$TMP/s3.out" 2>"$TMP/s3.err" &
CLEANUP+=("kill $!")
for _ in $(seq 1 300); do [ -s "$TMP/s3.out" ] && break; sleep 0.1; done
S3URL=$(head -1 "$TMP/s3.out")
[ -n "$S3URL" ] || { echo "s3rver did not start: $(cat "$TMP/s3.err")"; exit 1; }
export AWS_ENDPOINT_URL=$S3URL AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
STORE=s3://models/plat
expect_status "push --tree (40 accounts and the default)" 0 "$TRIAGE" push --tree "$TMP/tree" --store "$STORE" --jobs 4

start_kafka --brokers 1 --topic in:2 --topic out:2 --topic out2:2 --topic out3:2 --topic dlq:1
python3 -c 'import json,sys
for l in open(sys.argv[1]): print(json.loads(l)["id"] + "\t" + l.rstrip("\n"))' "$TMP/platform.jsonl" >"$TMP/keyed.tsv"
kcat -b "$KAFKA" -P -t in -K '\t' <"$TMP/keyed.tsv"
N=$(wc -l <"$TMP/keyed.tsv")
metric() { # WORKER NAME: the value of a metric series (summed over labels)
    curl -s "http://127.0.0.1:$(admin_port "$1")/metrics" | awk -v m="$2" 'index($1, m) == 1 { s += $2 } END { printf "%.0f", s }'
}
routes() { # TOPIC: distinct ids, records by own model, by the default, by another account's
    consume "$1" "$TMP/$1.tsv"
    python3 - "$TMP/$1.tsv" <<'PY'
import json, sys
ids, own, dflt, wrong = set(), 0, 0, 0
for line in open(sys.argv[1]):
    k, v = line.rstrip("\n").split("\t", 1)
    r = json.loads(v)
    ids.add(k)
    m = r["model"].rsplit("@", 1)[0]
    if m == "accounts/" + str(r["account"]):
        own += 1
    elif m == "default":
        dflt += 1
    else:
        wrong += 1
print(len(ids), own, dflt, wrong)
PY
}

echo "-- a budget that holds a few account models"
BUDGET=1500000
SCORER_MAX=400000 # a scorer with an English stemmer: a 256 KB stem cache and its scratch
worker_conf "$TMP/tight.conf" gt "$STORE" "cache.dir = $TMP/cache-t" "cache.max.bytes = $BUDGET" "account.wait = 1s" \
    "load.parallel = 4" "poll.interval = 1s" "[batch]" "workers = 1"
start_triaged tight "$TMP/tight.conf"
check "tight budget: every record labeled" wait_count out "$N" 240
read -r ids own dflt wrong <<<"$(routes out)"
expect_eq "tight budget: each record once" "$ids" "$N"
expect_eq "tight budget: no record labeled by another account's model" "$wrong" 0
expect_ge "tight budget: records labeled by their own model" "$own" 1
echo "   (own $own, default $dflt)"
EV=$(metric tight triage_account_model_evictions_total)
expect_ge "tight budget: models were evicted to stay within it" "$EV" 1
PEAK=$(metric tight triage_account_models_peak_bytes)
BOUND=$((BUDGET + 1 * 8 * SCORER_MAX))
check "tight budget: account models never held more than budget + 1 worker x 8 scorers ($PEAK <= $BOUND)" \
    test -n "$PEAK" -a "${PEAK:-0}" -gt 0 -a "${PEAK:-0}" -le "$BOUND"
kill -TERM "$PID_tight"
wait "$PID_tight"; expect_eq "the tight worker stops cleanly" "$?" 0

echo "-- the same budget with a 10-minute wait: a batch whose models cannot all be admitted does not wait it out"
worker_conf "$TMP/cut.conf" gc "$STORE" "cache.dir = $TMP/cache-c" "cache.max.bytes = $BUDGET" "account.wait = 10m" \
    "load.parallel = 4" "poll.interval = 1s" "[batch]" "workers = 1" "[output]" "topic = out3"
start_triaged cut "$TMP/cut.conf"
# Without the cut, the first batch (about 40 accounts' models, a few of which
# fit) would wait 10 minutes: this wait would time out.
check "10-minute wait: every record labeled (not after 10 minutes a batch)" wait_count out3 "$N" 240
read -r ids own dflt wrong <<<"$(routes out3)"
expect_eq "10-minute wait: each record once" "$ids" "$N"
expect_eq "10-minute wait: no record labeled by another account's model" "$wrong" 0
expect_ge "10-minute wait: records labeled by their own model" "$own" 1
expect_ge "10-minute wait: and by the default meanwhile" "$dflt" 1
echo "   (own $own, default $dflt)"
expect_ge "the batches that stopped waiting are counted" "$(metric cut triage_account_model_waits_cut_total)" 1
kill -TERM "$PID_cut"
wait "$PID_cut"; expect_eq "the worker stops cleanly" "$?" 0

echo "-- a budget that holds them all: loads in parallel"
worker_conf "$TMP/wide.conf" gw "$STORE" "cache.dir = $TMP/cache-w" "load.parallel = 4" "poll.interval = 1s" \
    "[output]" "topic = out2"
start_triaged wide "$TMP/wide.conf"
check "wide budget: every record labeled" wait_count out2 "$N" 240
read -r ids own dflt wrong <<<"$(routes out2)"
expect_eq "wide budget: each record once" "$ids" "$N"
expect_eq "wide budget: no record labeled by another account's model" "$wrong" 0
expect_ge "wide budget: loads ran in parallel (running peak)" "$(metric wide triage_model_loads_running_peak)" 2
expect_eq "wide budget: nothing evicted" "$(metric wide triage_account_model_evictions_total)" 0
LOADED=$(metric wide triage_account_models_loaded)
expect_ge "wide budget: the accounts with records are loaded" "$LOADED" 30

echo "-- re-pushing 3 accounts' models fetches those 3 only"
loads_ok() { metric wide 'triage_model_loads_total{result="ok"}'; }
checks() { metric wide triage_model_last_check_timestamp_seconds; }
L0=$(loads_ok)
MARK=$(wc -l <"$TMP/s3.log")
for a in acct-0001 acct-0002 acct-0003; do
    "$TRIAGE" push "$TMP/tree/accounts/$a/model.tmodel" --store "$STORE" --account "$a" >/dev/null
done
check "the worker loads the 3 new versions" eventually 60 bash -c "[ \$(curl -s http://127.0.0.1:$(admin_port wide)/metrics | awk 'index(\$1, \"triage_model_loads_total{result=\\\"ok\\\"}\") == 1 { print \$2 }') -ge $((L0 + 3)) ]"
# Two more checks of the store after that: anything else they would fetch is in the log by then.
C0=$(checks)
eventually 30 bash -c "[ \$(curl -s http://127.0.0.1:$(admin_port wide)/metrics | awk '\$1 == \"triage_model_last_check_timestamp_seconds\" { printf \"%.0f\", \$2 * 1000 }') -gt $((${C0:-0} * 1000 + 1500)) ]"
expect_eq "no other load" "$(loads_ok)" "$((L0 + 3))"
tail -n +"$((MARK + 1))" "$TMP/s3.log" | sed 's/\x1b\[[0-9;]*m//g' >"$TMP/s3.after"
# s3rver logs "s/KEY STATUS ..." without the method; a push's own requests
# (its upload and the server-side copy that publishes it) are told apart by
# their "Copied object ... with key of KEY" and upload lines: a GET of a
# .tmodel by the worker is the line for a key no push wrote.
GOT=$(python3 - "$TMP/s3.after" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
copied, gets = set(), []
for line in lines:
    m = re.search(r'with key of "([^"]+)"', line)
    if m:
        copied.add(m.group(1))
        continue
    m = re.match(r"info: s/(\S+) (\d+) ", line)
    if not m or not m.group(1).endswith(".tmodel") or ".uploading." in m.group(1):
        continue
    if m.group(1) in copied:
        copied.discard(m.group(1))
        continue
    gets.append(m.group(1).split("/")[-2])
print(" ".join(sorted(gets)))
PY
)
expect_eq "s3rver's log: model files fetched since the re-push" "$GOT" "acct-0001 acct-0002 acct-0003"
kill -TERM "$PID_wide"
wait "$PID_wide"; expect_eq "the wide worker stops cleanly" "$?" 0

finish
