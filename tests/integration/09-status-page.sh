#!/usr/bin/env bash
# The support lead's status page (src/daemon/status.html) in headless Chromium, fed by
# a status source that serves the page at / and a known document at
# /api/status: the page renders the live data (model, alarms, quality figures
# against their thresholds, one SVG chart per series with its band and alarm
# markers), copes with a sparse, null-filled document, and when a later fetch
# fails it says so while keeping the data it last showed.
# The screenshot of the full page is left in out/status-page.png.
. "$(dirname "$0")/lib.sh"
CHROMIUM_CHECK=$ROOT/tests/integration/chromium-check
MODEL_VERSION=airline@20261123T151632.123Z

if ! command -v "${CHROMIUM:-chromium}" >/dev/null || ! command -v python3 >/dev/null; then
    echo "  skip: needs chromium and python3"
    finish
    exit
fi

# ---- the status source ----
# The page's only dependency: something that serves it at / and the status
# document at /api/status. For now a small python3 fake of triaged's admin
# server; these three functions are the whole contract a real daemon must meet.
#
# start_status_source DOC: serves src/daemon/status.html at / and the JSON file DOC at
# /api/status from 127.0.0.1 on a free port until the test exits; sets STATUS_URL.
start_status_source() {
    STATUS_DOC=$TMP/status-source.json
    STATUS_MODE=$TMP/status-source.mode
    cp "$1" "$STATUS_DOC"
    echo ok >"$STATUS_MODE"
    cat >"$TMP/status-source.py" <<'PY'
import http.server, os, sys, threading
page, doc, mode, portfile = sys.argv[1:5]
lock = threading.Lock()
good_left = 0          # in mode "once": good /api/status answers left for this page load

class Handler(http.server.BaseHTTPRequestHandler):
    def send(self, code, ctype, body):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        global good_left
        m = open(mode).read().strip()
        if self.path == "/":
            with lock:
                good_left = 1
            self.send(200, "text/html; charset=utf-8", open(page, "rb").read())
        elif self.path == "/api/status":
            with lock:
                good = m == "ok" or (m == "once" and good_left > 0)
                good_left -= 1
            if good:
                self.send(200, "application/json", open(doc, "rb").read())
            else:
                self.send(500, "text/plain", b"internal error\n")
        else:
            self.send(404, "text/plain", b"not found\n")

    def log_message(self, fmt, *args):
        sys.stderr.write("%s\n" % (fmt % args))

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
PY
    python3 "$TMP/status-source.py" "$ROOT/src/daemon/status.html" "$STATUS_DOC" "$STATUS_MODE" "$TMP/status-source.port" \
        2>"$TMP/status-source.log" &
    CLEANUP+=("kill $!")
    for _ in $(seq 1 100); do
        [ -s "$TMP/status-source.port" ] && break
        sleep 0.05
    done
    [ -s "$TMP/status-source.port" ] || { echo "status source did not start: $(cat "$TMP/status-source.log")"; exit 1; }
    STATUS_URL=http://127.0.0.1:$(cat "$TMP/status-source.port")/
}
# status_source_document DOC: /api/status answers with the JSON file DOC from now on.
status_source_document() { cp "$1" "$STATUS_DOC"; }
# status_source_fail_after_first: from now on each page load gets one good
# /api/status answer, then HTTP 500 for every later request.
status_source_fail_after_first() { echo once >"$STATUS_MODE"; }

# ---- the documents ----
# The live document: 3 series of 24 hourly windows (Cancelled Flight alarming
# in its last 2 windows; one account-specific series), 1 active alarm, 4 recent
# events, PSI over its threshold.
python3 - "$TMP/status.json" "$MODEL_VERSION" <<'PY'
import json, math, random, sys
from datetime import datetime, timedelta, timezone
out, mv = sys.argv[1:3]
name, version = mv.split("@")
rnd = random.Random(7)
now = datetime(2015, 2, 24, 11, tzinfo=timezone.utc)
iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
def series(label, account, base, spikes=()):
    pts = []
    for i in range(24):
        start = now - timedelta(hours=24 - i)
        exp = base * (1 + 0.6 * math.sin((start.hour - 9) / 24 * 2 * math.pi))
        sd = 2.2 * math.sqrt(exp) + 0.5
        obs = max(0, round(exp + rnd.uniform(-1, 1) * sd * 0.8))
        alarm = i in dict(spikes)
        if alarm:
            obs = dict(spikes)[i]
        pts.append({"start": iso(start), "observed": obs, "expected": round(exp, 1),
                    "lo": round(max(0, exp - sd), 1), "hi": round(exp + sd, 1), "alarm": alarm})
    return {"label": label, "account": account, "alarming": bool(spikes), "points": pts}
def ev(type_, kind, label, account, end_h, obs, exp, p=None):
    end = now - timedelta(hours=end_h)
    return {"type": type_, "kind": kind, "label": label, "account": account, "window_start": iso(end - timedelta(hours=1)),
            "window_end": iso(end), "observed": obs, "expected": exp, "p_value": p, "model": mv}
cancelled = series("Cancelled Flight", None, 6, spikes=[(22, 31), (23, 40)])
last = cancelled["points"][-1]
active = ev("alarm", "rate_spike", "Cancelled Flight", None, 0, last["observed"], last["expected"], 1.2e-9)
doc = {
    "now": iso(now), "role": "all",
    "model": {"name": name, "version": version, "loaded_at": "2026-11-23T15:16:32Z"},
    "throughput": {"in_per_s": 123.4, "out_per_s": 120.1, "records_in": 980, "records_out": 980, "dead_lettered": 3},
    "lag": {"total": 12, "partitions": [{"topic": "triage.in", "partition": 0, "lag": 9},
                                        {"topic": "triage.in", "partition": 1, "lag": 3}]},
    "window_ms": 3600000,
    # Not in display order: the page puts alarming series first.
    "series": [series("Late Flight", None, 14), series("Can't Tell", "united", 3),
               cancelled],
    "alarms": {"active": [active],
               "recent": [active, ev("alarm", "rate_spike", "Cancelled Flight", None, 1, 31, cancelled["points"][-2]["expected"], 3.4e-6),
                          ev("clear", "volume_drop", "Late Flight", None, 7, 9, 11.0),
                          ev("alarm", "volume_drop", "Late Flight", None, 9, 1, 10.5, 2.1e-4)]},
    "quality": {"oov_share": 0.01, "dead_letter_rate": 0.003, "psi": 0.31, "low_confidence_share": 0.12,
                "thresholds": {"oov_share": 0.2, "dead_letter_rate": 0.05, "psi": 0.25, "low_confidence_share": 0.5}},
}
json.dump(doc, open(out, "w"), indent=1)
PY
# Early after start: nulls, an empty alarm, points with missing values.
cat >"$TMP/sparse.json" <<'EOF'
{"now": null, "role": null, "model": null, "throughput": {"in_per_s": null}, "lag": null, "window_ms": null,
 "series": [{"label": "Bad Flight", "account": null, "points": [{"start": "2015-02-24T09:00:00Z", "observed": null},
            {"start": "2015-02-24T10:00:00Z", "observed": 3, "expected": null, "lo": 1, "hi": null}]},
            {"label": null, "points": null}],
 "alarms": {"active": [{}], "recent": null}, "quality": {"psi": 0.5, "thresholds": null}}
EOF

# dom_facts DOM: the facts the checks need from a dumped DOM, one "key<TAB>value" a line.
dom_facts() {
    python3 - "$1" <<'PY'
import sys
from html.parser import HTMLParser
BLOCK = {"div", "li", "ul", "p", "section", "figure", "figcaption", "h1", "h2", "header", "main"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.kids = tag, dict(attrs), parent, []   # kids: Nodes and strings
    def cls(self): return (self.attrs.get("class") or "").split()
    def all(self):
        for k in self.kids:
            if isinstance(k, Node):
                yield k
                yield from k.all()
    def txt(self):   # block elements are set apart by spaces, as a reader sees them
        return "".join(k if isinstance(k, str) else (" %s " if k.tag in BLOCK else "%s") % k.txt() for k in self.kids)
class P(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.cur = Node("#root", [], None)
    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.kids.append(n)
        if tag not in VOID: self.cur = n
    def handle_startendtag(self, tag, attrs): self.cur.kids.append(Node(tag, attrs, self.cur))
    def handle_endtag(self, tag):
        n = self.cur
        while n is not self.root and n.tag != tag: n = n.parent
        if n is not self.root: self.cur = n.parent
    def handle_data(self, d): self.cur.kids.append(d)
p = P(); p.feed(open(sys.argv[1], encoding="utf-8").read())
nodes = list(p.root.all())
byid = {n.attrs["id"]: n for n in nodes if "id" in n.attrs}
empty = Node("-", [], None)
def out(k, v): print("%s\t%s" % (k, " ".join(str(v).split())))
body = next((n for n in nodes if n.tag == "body"), empty)
out("loaded", body.attrs.get("data-loaded", ""))
out("render_errors", body.attrs.get("data-render-errors", "0"))
out("model_version", byid.get("model-version", empty).txt())
out("throughput", byid.get("throughput", empty).txt())
alarms = [k for k in byid.get("alarm-list", empty).all() if k.parent.attrs.get("id") == "alarm-list" and "alarm" in k.cls()]
out("alarms", len(alarms))
out("alarm_text", " | ".join(a.txt() for a in alarms))
out("events", sum(1 for n in byid.get("recent-list", empty).all() if "event" in n.cls()))
metrics = [n for n in byid.get("quality", empty).all() if "metric" in n.cls()]
out("metrics", len(metrics))
out("over", " ".join(m.attrs.get("data-metric", "?") for m in metrics if "over" in m.cls()))
charts = [n for n in byid.get("chart-grid", empty).all() if n.tag == "svg" and "chart" in n.cls()]
out("charts", len(charts))
out("chart_order", " | ".join(c.attrs.get("data-label", "") for c in charts))
for c in charts:
    key = "chart[%s|%s]" % (c.attrs.get("data-label", ""), c.attrs.get("data-account", ""))
    for part in ("observed", "band", "expected"):
        out(key + "." + part, sum(1 for n in c.all() if n.tag in ("path", "polyline") and part in n.cls() and n.attrs.get("d", "x") != ""))
    out(key + ".markers", sum(1 for n in c.all() if "alarm-marker" in n.cls()))
out("captions", " | ".join(n.txt() for n in byid.get("chart-grid", empty).all() if n.tag == "figcaption"))
stale = byid.get("stale-notice", empty)
out("stale_shown", "no" if "hidden" in stale.attrs or stale is empty else "yes")
out("stale_text", stale.txt())
out("conn", byid.get("conn", empty).txt())
PY
}
# fact KEY: a value from $TMP/facts.
fact() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' "$TMP/facts"; }
# contains TEXT PART...: TEXT holds every PART.
contains() { local t=$1 p; shift; for p; do [[ $t == *"$p"* ]] || return 1; done; }
png_ok() { [ "$(od -An -tx1 -N8 "$1" | tr -d ' \n')" = 89504e470d0a1a0a ] && [ "$(wc -c <"$1")" -gt 20000 ]; }

# ---- checks ----
start_status_source "$TMP/status.json"
mkdir -p "$ROOT/out"
SHOT=$ROOT/out/status-page.png

echo "-- the page renders live data"
check "chromium loads $STATUS_URL" "$CHROMIUM_CHECK" "$STATUS_URL" "$SHOT" "$TMP/live.dom"
dom_facts "$TMP/live.dom" >"$TMP/facts"
expect_eq "body data-loaded" "$(fact loaded)" true
expect_eq "no section failed to render" "$(fact render_errors)" 0
check "#model-version shows $MODEL_VERSION" contains "$(fact model_version)" "$MODEL_VERSION"
check "#throughput shows rates, lag and dead letters" contains "$(fact throughput)" \
    "In 123.4 /s" "Out 120.1 /s" "Consumer lag 12 msgs" "Dead-lettered 3"
expect_eq "#alarm-list has 1 .alarm" "$(fact alarms)" 1
check "the alarm names its label, kind, counts and window" contains "$(fact alarm_text)" \
    "Cancelled Flight" "rate spike" "observed 40 vs expected 6.9" "Feb 24 10:00–11:00 UTC"
expect_eq "4 recent events" "$(fact events)" 4
expect_eq "4 quality figures" "$(fact metrics)" 4
expect_eq "only PSI is highlighted as over its threshold" "$(fact over)" psi
expect_eq "#chart-grid has 3 svg.chart" "$(fact charts)" 3
expect_eq "the alarming series comes first" "$(fact chart_order)" "Cancelled Flight | Can't Tell | Late Flight"
for c in "Cancelled Flight|" "Can't Tell|united" "Late Flight|"; do
    expect_eq "chart [$c] has an observed path" "$(fact "chart[$c].observed")" 1
    expect_eq "chart [$c] has a band path" "$(fact "chart[$c].band")" 1
    expect_eq "chart [$c] has an expected path" "$(fact "chart[$c].expected")" 1
done
expect_eq "2 alarm markers in the alarming chart" "$(fact "chart[Cancelled Flight|].markers")" 2
expect_eq "no alarm markers elsewhere" "$(fact "chart[Late Flight|].markers") $(fact "chart[Can't Tell|united].markers")" "0 0"
check "the account series is labelled 'label — account'" contains "$(fact captions)" "Can't Tell — united"
expect_eq "no stale notice" "$(fact stale_shown)" no
check "screenshot $SHOT is a PNG" png_ok "$SHOT"

echo "-- a sparse, null-filled document"
status_source_document "$TMP/sparse.json"
check "chromium loads the page" "$CHROMIUM_CHECK" "$STATUS_URL" "$TMP/sparse.png" "$TMP/sparse.dom"
dom_facts "$TMP/sparse.dom" >"$TMP/facts"
expect_eq "body data-loaded" "$(fact loaded)" true
expect_eq "no section failed to render" "$(fact render_errors)" 0
expect_eq "no model is said so" "$(fact model_version)" "no model loaded"
expect_eq "2 charts, the point-less one too" "$(fact charts)" 2
expect_eq "PSI over its threshold without thresholds is not flagged" "$(fact over)" ""

echo "-- the source fails after the first answer"
status_source_document "$TMP/status.json"
status_source_fail_after_first
check "chromium loads the page" "$CHROMIUM_CHECK" "$STATUS_URL" "$ROOT/out/status-page-stale.png" "$TMP/stale.dom"
dom_facts "$TMP/stale.dom" >"$TMP/facts"
expect_eq "the stale notice is shown" "$(fact stale_shown)" yes
check "it says unreachable, why, and that the data is stale" contains "$(fact stale_text)" unreachable "HTTP 500" "stale data"
expect_eq "the connection pill says stale" "$(fact conn)" stale
expect_eq "body data-loaded stays" "$(fact loaded)" true
check "the model is still shown" contains "$(fact model_version)" "$MODEL_VERSION"
expect_eq "the alarm is still shown" "$(fact alarms)" 1
expect_eq "the charts are still shown" "$(fact charts)" 3
check "the source answered HTTP 500" grep -q '"GET /api/status HTTP/1.1" 500' "$TMP/status-source.log"
finish
