#!/usr/bin/env bash
# Category-rate alarms and data-quality monitors through the daemon:
#  1. the alarms role on a synthetic labeled stream (60 hourly windows, a
#     steady Poisson mix): a 5x spike of one label for one window raises
#     exactly that alarm in that window and clears it; the volume cut to a
#     tenth for two windows raises volume_drop; the role is restarted in the
#     middle (checkpoint) and keeps its baselines: no alarm storm, no missed
#     spike;
#  2. the same detector on 1,000,000 records without the spike, through
#     `triage alarms --replay`: no rate alarm;
#  3. the whole daemon (role=all) on tweets, then texts in a language the
#     model never saw: the unknown-text quality alarm; its status page in
#     headless Chromium shows the chart, the alarm and the model version from
#     live data.
. "$(dirname "$0")/lib.sh"
SAMPLE=$ROOT/data/sample/airline-tweets.jsonl
T0=1700002800000 # 2023-11-14T23:00:00Z, an hour boundary

gen() { "$ROOT/tests/integration/labeled-stream" "$@"; } # FROM TO SPIKE DROP_FROM DROP_TO SEED
alarm_events() { kcat -b "$KAFKA" -C -t alarms -e -q 2>/dev/null; }
# The mock drops the oldest messages beyond 5 MB a partition: feed only once
# the consumer is reading.
wait_assigned() { for _ in $(seq 1 150); do grep -q event=partitions_assigned "$TMP/$1.log" && return 0; sleep 0.2; done; return 1; }
metric() { curl -s "http://127.0.0.1:$(admin_port "$1")/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }

echo "-- 1. the alarms role on a synthetic stream"
start_kafka --brokers 1 --topic out:1 --topic dlq:1 --topic alarms:1
write_conf "$TMP/a.conf"
cat >>"$TMP/a.conf" <<CONF
[output]
topic = out
dlq.topic = dlq
[alarms]
topic = alarms
group = alarms-test
window = 1h
lateness = 0
by.account = false
state.file = $TMP/alarms-state.json
checkpoint.interval = 500ms
CONF
# role is a top-level key: it goes before the first [section].
{ echo "role = alarms"; cat "$TMP/a.conf"; } >"$TMP/a2.conf"
expect_status "alarms-only config checks (no model needed)" 0 "$BIN/triaged" -c "$TMP/a2.conf" --check-config
start_triaged al "$TMP/a2.conf"
check "the alarms role is ready" wait_ready al 30
wait_assigned al
gen 0 30 40 50 52 1 >"$TMP/part1.txt"
gen 30 60 40 50 52 2 >"$TMP/part2.txt"
n1=$(wc -l <"$TMP/part1.txt"); n2=$(wc -l <"$TMP/part2.txt")
echo "   $n1 + $n2 records over 60 hourly windows, spike x5 of Cancelled Flight at hour 40, volume /10 at 50-51"
# One partition keeps event time in order; the feed is paced so the mock's
# 5 MB per partition (older messages silently dropped) is never in the way.
pace 8000 <"$TMP/part1.txt" | kcat -b "$KAFKA" -P -t out -K '\t'
for i in $(seq 1 150); do [ "$(metric al triage_alarm_records_total)" = "$n1" ] && break; sleep 0.2; done
expect_eq "the detector counted the first 30 hours" "$(metric al triage_alarm_records_total)" "$n1"
sleep 1 # one more checkpoint
kill -TERM "$PID_al"; wait "$PID_al"
expect_eq "stopped in the middle (exit 0)" "$?" 0
check "its checkpoint is on disk" test -s "$TMP/alarms-state.json"
start_triaged al "$TMP/a2.conf"
wait_ready al 30 >/dev/null
wait_assigned al
check "restarted, it loads its baselines" grep -q 'event=alarm_state_loaded .*series=5' "$TMP/al.log"
pace 8000 <"$TMP/part2.txt" | kcat -b "$KAFKA" -P -t out -K '\t'
for i in $(seq 1 150); do [ "$(metric al triage_alarm_records_total)" = "$((n1 + n2))" ] && break; sleep 0.2; done
expect_eq "and counts every record exactly once across the restart" "$(metric al triage_alarm_records_total)" "$((n1 + n2))"
sleep 1
alarm_events >"$TMP/events.txt"
sed 's/^/   /' "$TMP/events.txt"
python3 - "$TMP/events.txt" >"$TMP/cmp.txt" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
rate = [e for e in ev if e["kind"] == "rate_spike"]
vol = [e for e in ev if e["kind"] == "volume_drop"]
# One incident: opened by the 1h window of the spike, possibly grown by the
# 6h window holding it, cleared once.
print("rate", " ".join("%s:%s:%s:%s" % (e["type"], e["label"], e["window_start"], e["scale"]) for e in rate if e["type"] != "update"),
      len({e["incident"]["id"] for e in rate}))
print("volume", " ".join("%s:%s" % (e["type"], e["window_start"]) for e in vol))
print("other", len(ev) - len(rate) - len(vol))
PY
expect_eq "exactly the spike, in its window, then cleared, one incident (no storm after the restart)" \
    "$(sed -n 's/^rate //p' "$TMP/cmp.txt" | sed 's/ clear:\([^:]*\):[^ ]* / clear:\1 /')" \
    "alarm:Cancelled Flight:2023-11-16T15:00:00Z:1h clear:Cancelled Flight 1"
expect_eq "volume cut to a tenth for two windows: volume_drop, then cleared" \
    "$(sed -n 's/^volume //p' "$TMP/cmp.txt")" "alarm:2023-11-17T01:00:00Z clear:2023-11-17T04:00:00Z"
expect_eq "nothing else" "$(awk '$1=="other"{print $2}' "$TMP/cmp.txt")" 0
check "alarm events are metrics too" bash -c "curl -s http://127.0.0.1:$(admin_port al)/metrics | grep -q '^triage_alarm_events_total{type=\"alarm\",kind=\"rate_spike\"} 1'"
check "and log lines" grep -q 'level=warn event=alarm kind=rate_spike label="Cancelled Flight"' "$TMP/al.log"
kill -TERM "$PID_al"; wait "$PID_al"

echo "-- 2. 1,000,000 records without the spike, same detector (triage alarms --replay)"
python3 - "$TMP/million.jsonl" <<'PY'
import json, math, random, sys, time
random.seed(99)
labels = ["Cancelled Flight", "Late Flight", "Lost Luggage", "Praise", "No complaint"]
rates = [300, 800, 150, 600, 1400]
T0, n, h = 1700002800000, 0, 0
with open(sys.argv[1], "w") as f:
    while n < 1000000:
        for i, lab in enumerate(labels):
            for _ in range(max(0, int(round(random.gauss(rates[i], math.sqrt(rates[i])))))):
                ts = T0 + h * 3600000 + random.randrange(3600000)
                f.write('{"label":"%s","ts":%d,"account":"%s"}\n' % (lab, ts, "United" if n % 3 else "Delta"))
                n += 1
        h += 1
PY
"$TRIAGE" alarms --replay "$TMP/million.jsonl" --by account --json >"$TMP/million.out" 2>"$TMP/million.err"
sed 's/^/   /' "$TMP/million.err"
expect_eq "no rate alarm in 1,000,000 steady records" "$(grep -c rate_spike "$TMP/million.out")" 0
check "over hundreds of windows" grep -qE '[0-9]{3,} windows' "$TMP/million.err"

echo "-- 3. the whole daemon: unknown text raises the quality alarm; the status page"
"$TRIAGE" train --data "$SAMPLE" --label category --out "$TMP/m.tmodel" -q
stop_kafka() { kill "$KMOCK_PID" 2>/dev/null; wait "$KMOCK_PID" 2>/dev/null; exec 9>&-; rm -f "$TMP/kcmd"; }
stop_kafka
start_kafka --brokers 1 --topic in:1 --topic out:1 --topic dlq:1 --topic alarms:1
write_conf "$TMP/all.conf"
{ echo "role = all"; cat "$TMP/all.conf"; cat <<CONF
[input]
topics = in
group = all
[output]
topic = out
dlq.topic = dlq
[model]
source = $TMP/m.tmodel
name = airline
[alarms]
topic = alarms
group = all-alarms
window = 1h
lateness = 0
min.history = 4
quality.min = 20
state.file = $TMP/all-state.json
CONF
} >"$TMP/all2.conf"
start_triaged all "$TMP/all2.conf"
check "role=all is ready" wait_ready all 30
python3 - "$SAMPLE" <<'PY' >"$TMP/oov.txt"
import json, sys, time
tweets = [json.loads(l)["text"] for l in open(sys.argv[1])][:1200]
foreign = ["東京駅の新幹線は午前九時に出発します", "今日は雨が降っているので傘を持っていきます",
           "Погода сегодня очень холодная и ветреная", "Мы поедем на поезде завтра утром",
           "我们明天早上坐火车去上海", "图书馆周末开放到晚上十点"]
T0 = 1700002800000
n = 0
for h in range(14):
    for i in range(80):
        ts = T0 + h * 3600000 + i * 45000
        text = foreign[(h * 80 + i) % len(foreign)] if h >= 10 else tweets[(h * 80 + i) % len(tweets)]
        n += 1
        rid = "t%d" % n
        print(rid + "\t" + json.dumps({"id": rid, "ts": ts, "account": "United", "text": text}, ensure_ascii=False))
PY
kcat -b "$KAFKA" -P -t in -K '\t' <"$TMP/oov.txt"
for i in $(seq 1 100); do grep -q unknown_text <(alarm_events) && break; sleep 0.2; done
alarm_events >"$TMP/events3.txt"
check "texts in an unseen language raise the unknown-text quality alarm" \
    grep -q '"type":"alarm","kind":"quality","label":"unknown_text"' "$TMP/events3.txt"
grep unknown_text "$TMP/events3.txt" | sed 's/^/   /'
curl -s "http://127.0.0.1:$(admin_port all)/api/status" >"$TMP/status.json"
check "/api/status carries series, the active alarm and the model" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
ok = d["model"]["name"] == "airline" and len(d["series"]) > 0 and any(a["label"] == "unknown_text" for a in d["alarms"]["active"])
# Half of these foreign texts share a character n-gram with the English model (the default trains
# character 2-5-grams), so the unknown share is 0.5 rather than 1, still twice the 0.25 limit.
ok = ok and d["quality"]["oov_share"] >= 0.45 and d["throughput"]["records_in"] == 1120
sys.exit(0 if ok else 1)' "$TMP/status.json"
mkdir -p "$ROOT/out"
if command -v chromium >/dev/null; then
    "$ROOT/tests/integration/chromium-check" "http://127.0.0.1:$(admin_port all)/" "$ROOT/out/status-page-live.png" "$TMP/live.dom"
    version=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["model"]["version"])' "$TMP/status.json")
    python3 - "$TMP/live.dom" "$version" >"$TMP/dom.txt" <<'PY'
import sys
from html.parser import HTMLParser
class P(HTMLParser):
    def __init__(s):
        super().__init__(); s.loaded = False; s.charts = 0; s.observed = 0; s.alarms = 0; s.stack = []; s.ver = ""; s.alarm_text = ""
    def handle_starttag(s, tag, a):
        a = dict(a); cls = (a.get("class") or "").split()
        if tag == "body" and a.get("data-loaded") == "true": s.loaded = True
        if tag == "svg" and "chart" in cls: s.charts += 1
        if "observed" in cls: s.observed += 1
        if "alarm" in cls and tag == "li": s.alarms += 1; s.stack.append("alarm")
        elif a.get("id") == "model-version": s.stack.append("ver")
        else: s.stack.append(None)
    def handle_endtag(s, tag):
        if s.stack: s.stack.pop()
    def handle_data(s, d):
        if "ver" in s.stack: s.ver += d
        if "alarm" in s.stack: s.alarm_text += d
p = P(); p.feed(open(sys.argv[1], encoding="utf-8").read())
print("loaded", p.loaded); print("charts", p.charts); print("observed", p.observed); print("alarms", p.alarms)
print("version", sys.argv[2] in p.ver); print("alarmtext", "unknown" in p.alarm_text.lower())
PY
    sed 's/^/   /' "$TMP/dom.txt"
    expect_eq "the page rendered live data" "$(awk '$1=="loaded"{print $2}' "$TMP/dom.txt")" True
    check "charts are drawn from the daemon's series" test "$(awk '$1=="charts"{print $2}' "$TMP/dom.txt")" -gt 0 -a "$(awk '$1=="observed"{print $2}' "$TMP/dom.txt")" -gt 0
    check "the alarm list shows the unknown-text alarm" test "$(awk '$1=="alarms"{print $2}' "$TMP/dom.txt")" -ge 1 -a "$(awk '$1=="alarmtext"{print $2}' "$TMP/dom.txt")" = True
    expect_eq "the model version is shown" "$(awk '$1=="version"{print $2}' "$TMP/dom.txt")" True
    check "a screenshot was saved (out/status-page-live.png)" bash -c "head -c 8 '$ROOT/out/status-page-live.png' | grep -q PNG"
else
    fail "chromium is not installed (scripts/install-deps --test installs it)"
fi
kill -TERM "$PID_all"; wait "$PID_all"
expect_eq "role=all exits 0" "$?" 0
finish
