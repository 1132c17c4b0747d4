#!/usr/bin/env bash
# Alarms delivered where people look (issue 11): triaged with role=all posts
# a rate alarm to a real Prometheus Alertmanager (the Debian package's
# binary, configured here to route everything to a webhook receiver of this
# test), re-sends it while it is active, and resolves it on the clear; the
# generic webhook gets each event's JSON; the status page (headless Chromium)
# shows the incident with its explanation. With Alertmanager down,
# classification goes on and the failed deliveries are counted in /metrics.
. "$(dirname "$0")/lib.sh"
SAMPLE=$ROOT/data/sample/airline-tweets.jsonl
AM_BIN=$(command -v prometheus-alertmanager || command -v alertmanager || true)
[ -n "$AM_BIN" ] || { echo "prometheus-alertmanager is not installed (scripts/install-deps --test)"; exit 1; }

gen() { "$ROOT/tests/integration/labeled-stream" "$1" "$2" "$3" -1 -1 "$4" 0.4; } # FROM TO SPIKE SEED
metric() { curl -s "http://127.0.0.1:$(admin_port "$1")/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The receiver: every POST body becomes one line of $TMP/<path>.jsonl.
HPORT=$(free_port)
python3 - "$HPORT" "$TMP" <<'PY' &
import http.server, json, sys
port, tmp = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open("%s/%s.jsonl" % (tmp, self.path.strip("/") or "root"), "ab") as f:
            f.write(json.dumps(json.loads(body)).encode() + b"\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
CLEANUP+=("kill $!")

AMPORT=$(free_port)
cat >"$TMP/am.yml" <<YML
route:
  receiver: hook
  group_by: ['alertname', 'label', 'account', 'scale']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:$HPORT/am
        send_resolved: true
YML
start_am() {
    "$AM_BIN" --config.file="$TMP/am.yml" --storage.path="$TMP/am-data" --web.listen-address="127.0.0.1:$AMPORT" \
        --cluster.listen-address= >"$TMP/am.log" 2>&1 &
    AM_PID=$!
    CLEANUP+=("kill $AM_PID")
}
am_up() { curl -sf "http://127.0.0.1:$AMPORT/-/ready" >/dev/null; }
start_am
check "Alertmanager is up" eventually 30 am_up

"$TRIAGE" train --data "$SAMPLE" --label category --out "$TMP/m.tmodel" -q
start_kafka --brokers 1 --topic in:1 --topic out:1 --topic dlq:1 --topic alarms:1
worker_conf "$TMP/w.conf" am-test "$TMP/m.tmodel"
{
    echo "role = all"
    cat "$TMP/w.conf"
    cat <<CONF
[alarms]
topic = alarms
group = alarms-am
window = 1h
scales = 1h
lateness = 0
by.account = false
state.file = $TMP/alarms-state.json
alertmanager.url = http://127.0.0.1:$AMPORT
webhook.url = http://127.0.0.1:$HPORT/events
status.url = http://127.0.0.1:9464/
notify.resend = 1s
notify.retries = 1
notify.timeout = 1s
CONF
} >"$TMP/a.conf"
start_triaged all "$TMP/a.conf"
check "role=all is ready" wait_ready all 60
check "and reads the labeled topic" eventually 30 grep -q 'event=partitions_assigned.*' "$TMP/all.log"
sleep 2 # both consumers assigned

echo "-- 1. a spike is posted to Alertmanager, routed to its receiver, then resolved"
gen 0 42 40 1 >"$TMP/part1.txt"
pace 8000 <"$TMP/part1.txt" | kcat -b "$KAFKA" -P -t out -K '\t'
am_alert() { curl -s "http://127.0.0.1:$AMPORT/api/v2/alerts" | jq -e '.[] | select(.labels.alertname == "triage_rate_spike" and .labels.label == "Cancelled Flight" and .status.state == "active")' >/dev/null; }
check "Alertmanager holds the alert" eventually 60 am_alert
curl -s "http://127.0.0.1:$AMPORT/api/v2/alerts" | jq -c '.[] | {labels, annotations}' | sed 's/^/   /'
routed() { [ -s "$TMP/am.jsonl" ] && jq -e 'select(.status == "firing") | .alerts[] | select(.labels.label == "Cancelled Flight")' "$TMP/am.jsonl" >/dev/null; }
check "and routed it to the receiver" eventually 30 routed
cf_has() { jq -s -e "[.[] | select(.status == \"firing\") | .alerts[] | select(.labels.label == \"Cancelled Flight\") | $1] | any" "$TMP/am.jsonl" >/dev/null; }
check "labels: kind, account, scale, severity" \
    cf_has '.labels | .alertname == "triage_rate_spike" and .kind == "rate_spike" and .account == "all" and .scale == "1h" and .severity == "warning"' 
check "annotations: summary, description, status page" \
    cf_has '.annotations | (.summary | test("baseline")) and (.description | test("Seen by")) and .status_page == "http://127.0.0.1:9464/"' 
check "the webhook got the event JSON" eventually 30 bash -c "jq -e 'select(.type == \"alarm\" and .kind == \"rate_spike\" and .incident.id != null)' '$TMP/events.jsonl' >/dev/null"
# The explanation: the cause planted in the spike's excerpts comes out on top,
# with example records, in the event JSON and in Alertmanager's description.
check "the event explains: the planted cause is the top n-gram, with 5 examples" \
    jq -e -s '[.[] | select(.type == "alarm" and .kind == "rate_spike") | .explanation
               | (.ngrams[0].ngram | test("ice|storm|grounded|everything|rebooking|endless")) and (.examples | length) == 5] | any' "$TMP/events.jsonl"
jq -c 'select(.type == "alarm" and .kind == "rate_spike") | .explanation | {ngrams: [.ngrams[].ngram], example: .examples[0]}' "$TMP/events.jsonl" | sed 's/^/   /'
check "and Alertmanager's description names it" cf_has '.annotations.description | test("Over-represented: \"[^\"]*(ice|storm|grounded|everything|rebooking|endless)")' 
if command -v chromium >/dev/null; then
    mkdir -p "$ROOT/out"
    "$ROOT/tests/integration/chromium-check" "http://127.0.0.1:$(admin_port all)/" "$ROOT/out/status-page-incident.png" "$TMP/inc.dom"
    check "the status page shows the incident" grep -q 'data-label="Cancelled Flight"' "$TMP/inc.dom"
    check "with its over-represented n-grams and examples" grep -q 'class="ngram"' "$TMP/inc.dom"
    check "with its explanation (share vs baseline, members)" \
        python3 -c 'import re,sys; d=open(sys.argv[1]).read(); sys.exit(not re.search(r"class=\"explain\".*share.*vs baseline.*all accounts @ 1h", d, re.S))' "$TMP/inc.dom"
    check "screenshot kept (out/status-page-incident.png)" test -s "$ROOT/out/status-page-incident.png"
else
    fail "chromium is not installed (scripts/install-deps --test installs it)"
fi
n0=$(metric all 'triage_alarm_notifications_total{receiver="alertmanager"}')
resent() { [ "$(metric all 'triage_alarm_notifications_total{receiver="alertmanager"}')" -ge $((n0 + 2)) ]; }
check "re-sent while active" eventually 30 resent
gen 42 46 -1 2 >"$TMP/part2.txt"
pace 8000 <"$TMP/part2.txt" | kcat -b "$KAFKA" -P -t out -K '\t'
resolved() { jq -e 'select(.status == "resolved") | .alerts[] | select(.labels.label == "Cancelled Flight")' "$TMP/am.jsonl" >/dev/null 2>&1; }
check "the clear resolves it at the receiver" eventually 60 resolved
check "the webhook got the clear" eventually 30 bash -c "jq -e 'select(.type == \"clear\")' '$TMP/events.jsonl' >/dev/null"

echo "-- 2. Alertmanager down: classification goes on, failures are counted"
kill "$AM_PID"; wait "$AM_PID" 2>/dev/null
gen 46 52 50 3 >"$TMP/part3.txt"
pace 8000 <"$TMP/part3.txt" | kcat -b "$KAFKA" -P -t out -K '\t'
failures() { [ "$(metric all 'triage_alarm_notification_failures_total{receiver="alertmanager"}')" -ge 1 ]; }
check "a failed delivery is counted in /metrics" eventually 60 failures
check "and logged" grep -q 'event=notify_failed receiver=alertmanager' "$TMP/all.log"
before=$(topic_count out)
keyed_records in 300 "$TMP/in.txt"
kcat -b "$KAFKA" -P -t in -K '\t' <"$TMP/in.txt"
check "classification goes on (300 more labeled records)" wait_count out $((before + 300)) 60
check "the daemon is still running" kill -0 "$PID_all"
kill -TERM "$PID_all"; wait "$PID_all"
expect_eq "and exits 0" "$?" 0
finish
