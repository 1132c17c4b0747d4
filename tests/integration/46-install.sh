#!/usr/bin/env bash
# Installed like a service: `make install DESTDIR=... PREFIX=/usr` puts the
# binaries, man pages, example config, alerting rules and a sandboxed systemd
# unit in place; the unit passes `systemd-analyze verify` (binary path and
# man pages looked up in the staging tree, which is not the live root) and
# `systemd-analyze security` reports its exposure; the man pages lint clean;
# the rules pass `promtool check rules` and their unit tests; a live /metrics
# passes `promtool check metrics`; `make uninstall` leaves nothing behind.
. "$(dirname "$0")/lib.sh"
X=$TMP/x

make -s -C "$ROOT" install DESTDIR="$X" PREFIX=/usr >"$TMP/install.out" 2>&1
check "make install DESTDIR PREFIX=/usr succeeds" test $? = 0
for f in usr/bin/triage usr/bin/triaged usr/share/man/man1/triage.1 usr/share/man/man8/triaged.8 \
    usr/share/doc/triage/triaged.conf usr/share/doc/triage/triage.rules.yml usr/lib/systemd/system/triaged.service; do
    check "installed $f" test -s "$X/$f"
done
check "the installed triaged runs" "$X/usr/bin/triaged" --version
unit=$X/usr/lib/systemd/system/triaged.service
check "the unit starts the installed binary" grep -q '^ExecStart=/usr/bin/triaged ' "$unit"
for k in 'DynamicUser=yes' 'ProtectSystem=strict' 'StateDirectory=triaged' 'CacheDirectory=triaged' \
    'NoNewPrivileges=yes' 'Restart=on-failure'; do
    check "the unit sets $k" grep -qx "$k" "$unit"
done

# The staged unit, with the binary where DESTDIR put it.
mkdir -p "$TMP/unit"
sed "s|/usr/bin/triaged|$X/usr/bin/triaged|g" "$unit" >"$TMP/unit/triaged.service"
MANPATH=$X/usr/share/man systemd-analyze verify "$TMP/unit/triaged.service" >"$TMP/verify.out" 2>&1
rc=$?
check "systemd-analyze verify passes (exit 0, no complaint)" test "$rc" = 0 -a ! -s "$TMP/verify.out"
[ -s "$TMP/verify.out" ] && sed 's/^/   /' "$TMP/verify.out"
# It must be able to fail: a misspelt directive is reported.
sed 's/^NoNewPrivileges=/NoNewPrivilege=/' "$TMP/unit/triaged.service" >"$TMP/bad.service"
MANPATH=$X/usr/share/man systemd-analyze verify "$TMP/bad.service" >"$TMP/verify-bad.out" 2>&1
check "verify reports a misspelt directive" grep -q 'Unknown key' "$TMP/verify-bad.out"
systemd-analyze security --offline=true "$TMP/unit/triaged.service" >"$TMP/security.out" 2>&1
score=$(grep -o 'Overall exposure level for [^:]*: [0-9.]*' "$TMP/security.out" | awk '{print $NF}')
echo "   systemd-analyze security: exposure ${score:-?} (0 = fully sandboxed, 10 = not at all)"
check "exposure level below 2 (OK)" awk -v s="${score:-99}" 'BEGIN { exit !(s < 2) }'

for m in "$X/usr/share/man/man1/triage.1" "$X/usr/share/man/man8/triaged.8"; do
    check "mandoc -T lint $(basename "$m") is clean" test -z "$(mandoc -T lint -W warning "$m" 2>&1)"
    check "man --warnings $(basename "$m") is clean" \
        test -z "$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$m" 2>&1 >/dev/null)"
done

check "promtool check rules" promtool check rules "$ROOT/conf/triage.rules.yml"
(cd "$ROOT/tests/prometheus" && promtool test rules triage.rules.test.yml) >"$TMP/prt.out" 2>&1
rc=$?
check "promtool test rules" test "$rc" = 0
[ "$rc" = 0 ] || sed 's/^/   /' "$TMP/prt.out"

# A live /metrics of a worker running both roles.
"$TRIAGE" train --data "$ROOT/data/sample/airline-tweets.jsonl" --label category --out "$TMP/m.tmodel" -q
start_kafka --brokers 1 --topic in:2 --topic out:2 --topic dlq:1
worker_conf "$TMP/w.conf" inst "$TMP/m.tmodel" "[alarms]" "state.file = $TMP/alarms.json"
start_triaged w "$TMP/w.conf" --set role=all
wait_ready w 60
port=$(admin_port w)
curl -s "http://127.0.0.1:$port/metrics" >"$TMP/metrics.txt"
check "the live /metrics names the renamed families" \
    grep -q '^# TYPE triage_alarm_records_total counter' "$TMP/metrics.txt"
check "and the readiness gauge" grep -q '^triage_ready 1' "$TMP/metrics.txt"
promtool check metrics <"$TMP/metrics.txt" >"$TMP/pcm.out" 2>&1
rc=$?
check "promtool check metrics on the live /metrics (no complaint)" test "$rc" = 0 -a ! -s "$TMP/pcm.out"
[ -s "$TMP/pcm.out" ] && sed 's/^/   /' "$TMP/pcm.out"
kill -TERM "$PID_w"; wait "$PID_w"

make -s -C "$ROOT" uninstall DESTDIR="$X" PREFIX=/usr >/dev/null 2>&1
check "make uninstall removes every installed file" test -z "$(find "$X" -type f)"
finish
