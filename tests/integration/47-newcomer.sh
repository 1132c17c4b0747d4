#!/usr/bin/env bash
# What a newcomer tries first works: --print-config prints and exits 0 (and
# --help lists it); the README's `triaged -c conf/triaged.conf` starts once
# scripts/demo has trained its model; `DEMO_KEEP=1 scripts/demo | cat`
# returns while the kept daemon runs on, with every record in the labeled
# file; `triage train` says how many records it skipped.
. "$(dirname "$0")/lib.sh"
TD=$BIN/triaged

echo "-- --print-config"
"$TD" -c "$ROOT/conf/triaged.conf" --print-config >"$TMP/pc.out" 2>"$TMP/pc.err" &
pc=$!
for _ in $(seq 1 50); do kill -0 "$pc" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pc" 2>/dev/null; then kill -9 "$pc"; fail "--print-config exits (still running after 5 s)"; else ok "--print-config exits"; fi
wait "$pc"
expect_eq "--print-config exit status" "$?" 0
check "--print-config prints the model source" grep -q '^model.source = out/demo/model.tmodel' "$TMP/pc.out"
"$TD" --print-config --set batch.size=7 | head -n 2 >/dev/null
expect_eq "--print-config | head, without a model source: exit status" "${PIPESTATUS[0]}" 0
check "--help lists --print-config" sh -c "'$TD' --help | grep -q -- --print-config"

echo "-- the README's daemon command, as written"
check "the README shows it" grep -q '^triaged -c conf/triaged.conf' "$ROOT/README.md"
mkdir -p "$TMP/work/out/demo" "$TMP/work/conf"
cp "$ROOT/conf/triaged.conf" "$TMP/work/conf/"
"$TRIAGE" train --data "$ROOT/data/sample/airline-tweets.jsonl" --label category --out "$TMP/work/out/demo/model.tmodel" -q
args=()
# The default admin port may be taken on a shared machine; then only that changes.
nc -z 127.0.0.1 9464 2>/dev/null && args=(--set admin.listen=127.0.0.1:0) && echo "   (port 9464 busy: admin on a free port)"
(cd "$TMP/work" && exec "$TD" -c conf/triaged.conf "${args[@]}" >"$TMP/readme.out" 2>"$TMP/readme.log") &
rp=$!
CLEANUP+=("kill -9 $rp")
check "it starts consuming" eventually 60 grep -q 'event=consuming' "$TMP/readme.log"
kill -TERM "$rp"
wait "$rp"
expect_eq "and stops with exit 0" "$?" 0

echo "-- triage train says what it skipped"
python3 - "$ROOT/data/sample/airline-tweets.jsonl" "$TMP/nulls.jsonl" <<'PY'
import json, sys
with open(sys.argv[2], "w") as o:
    for i, line in enumerate(open(sys.argv[1])):
        r = json.loads(line)
        if i % 10 == 0:
            r["category"] = None
        o.write(json.dumps(r) + "\n")
PY
nulls=$(grep -c '"category": null' "$TMP/nulls.jsonl")
"$TRIAGE" train --data "$TMP/nulls.jsonl" --label category --out "$TMP/n.tmodel" >"$TMP/train.out"
check "train reports $nulls records without label skipped" grep -q "($nulls without label skipped" "$TMP/train.out"

echo "-- DEMO_KEEP=1 scripts/demo | cat returns, the daemon kept running"
timeout 600 env DEMO_KEEP=1 DEMO_OUT="$TMP/demo" "$ROOT/scripts/demo" 2>&1 | cat >"$TMP/demo.out"
expect_eq "the pipeline returned (demo exit status)" "${PIPESTATUS[0]}" 0
kept=$(grep -o 'keeps running (pid [0-9]*)' "$TMP/demo.out" | grep -o '[0-9]*')
check "the kept daemon runs on" kill -0 "${kept:-0}"
[ -n "$kept" ] && CLEANUP+=("kill -9 $kept")
all=$(wc -l <"$ROOT/data/sample/airline-tweets.jsonl")
dead=$(curl -s "http://127.0.0.1:$(grep -o 'port=[0-9]*' "$TMP/demo/triaged.log" | head -1 | cut -d= -f2)/metrics" |
    awk '/^triage_records_dead_lettered_total/ { n += $NF } END { print n + 0 }')
expect_eq "labeled.jsonl holds every record not dead-lettered" "$(wc -l <"$TMP/demo/labeled.jsonl")" "$((all - dead))"
if [ -n "$kept" ]; then
    kill -TERM "$kept"
    for _ in $(seq 1 100); do kill -0 "$kept" 2>/dev/null || break; sleep 0.1; done
    check "the kept daemon stops on SIGTERM" test ! -d "/proc/$kept"
fi
finish
