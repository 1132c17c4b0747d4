#!/usr/bin/env bash
# kill -9 loses nothing: 100,000 keyed records on 16 partitions, three workers
# in one group; one worker is killed with SIGKILL at about 20%, 50% and 80% of
# progress and restarted. Afterwards every id is in the output (lost = 0),
# nothing else is (spurious = 0), every copy of an id carries the same label;
# the duplicate count is printed (at-least-once allows duplicates).
. "$(dirname "$0")/lib.sh"
N=${CRASH_RECORDS:-100000}

"$TRIAGE" train --data "$ROOT/data/sample/airline-tweets.jsonl" --label category --out "$TMP/m.tmodel" -q
keyed_records crash "$N" "$TMP/keyed.txt"
start_kafka --brokers 1 --topic in:16 --topic out:16 --topic dlq:1
worker_conf "$TMP/w.conf" crash "$TMP/m.tmodel"
for w in a b c; do start_triaged "$w" "$TMP/w.conf"; done
for w in a b c; do wait_ready "$w" || echo "   worker $w not ready"; done
# Feed the input at a steady pace so the kills land at the intended progress.
pace 8000 <"$TMP/keyed.txt" | kcat -b "$KAFKA" -P -t in -K '\t' &
FEED=$!
kills=0
for pct in 20 50 80; do
    target=$((N * pct / 100))
    wait_count out "$target" 300 || true
    got=$(topic_count out)
    kill -9 "$PID_a"
    wait "$PID_a" 2>/dev/null
    kills=$((kills + 1))
    echo "   killed worker a (SIGKILL) at $got of $N outputs"
    start_triaged a "$TMP/w.conf"
done
check "three kills happened" test "$kills" = 3
wait "$FEED"
expect_eq "input holds $N records" "$(topic_count in)" "$N"
# Done when every id is out (or give up after 5 minutes and report).
deadline=$(( $(date +%s) + 300 ))
while :; do
    wait_count out "$N" 300 >/dev/null || true
    consume out "$TMP/out.txt"
    python3 - "$TMP/keyed.txt" "$TMP/out.txt" >"$TMP/cmp.txt" <<'PY'
import json, sys, collections
want = set(l.split("\t", 1)[0] for l in open(sys.argv[1]))
seen = collections.defaultdict(set)
total = 0
for line in open(sys.argv[2]):
    k, v = line.rstrip("\n").split("\t", 1)
    seen[json.loads(v)["id"]].add(json.loads(v)["label"])
    total += 1
got = set(seen)
print("lost", len(want - got))
print("spurious", len(got - want))
print("duplicates", total - len(got))
print("inconsistent", sum(1 for s in seen.values() if len(s) > 1))
PY
    [ "$(awk '$1=="lost"{print $2}' "$TMP/cmp.txt")" = 0 ] && break
    [ "$(date +%s)" -ge "$deadline" ] && break
    sleep 2
done
sed 's/^/   /' "$TMP/cmp.txt"
expect_eq "lost records" "$(awk '$1=="lost"{print $2}' "$TMP/cmp.txt")" 0
expect_eq "spurious records" "$(awk '$1=="spurious"{print $2}' "$TMP/cmp.txt")" 0
expect_eq "ids with differing labels" "$(awk '$1=="inconsistent"{print $2}' "$TMP/cmp.txt")" 0
echo "   duplicate outputs after 3 kills: $(awk '$1=="duplicates"{print $2}' "$TMP/cmp.txt")"
for w in a b c; do kill -TERM "$(eval echo \$PID_$w)"; done
for w in a b c; do wait "$(eval echo \$PID_$w)"; rc=$?; expect_eq "worker $w exits 0 on SIGTERM" "$rc" 0; done
finish
