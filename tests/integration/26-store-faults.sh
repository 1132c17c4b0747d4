#!/usr/bin/env bash
# A hostile S3 endpoint (tests/integration/fake_s3.py) against triaged's
# model registry (issue 9, defects 3, 7 and 8): a key with a control
# character does not block model updates; a body longer than its listed size
# is cut at that size, is a store error (not a refused model), and the same
# version loads once the store serves it right; a listing that never ends is
# capped; SIGTERM during a trickling download ends the process at once. A
# second instance shares the model cache directory throughout.
. "$(dirname "$0")/lib.sh"
SAMPLE=$ROOT/data/sample/airline-tweets.jsonl
OBJ=$TMP/s3/objects
F=$TMP/s3/faults
mkdir -p "$OBJ/triage/default" "$F"
head -n 1500 "$SAMPLE" >"$TMP/train.jsonl"
"$TRIAGE" train --data "$TMP/train.jsonl" --label category --out "$TMP/m1.tmodel" -q
"$TRIAGE" train --data "$TMP/train.jsonl" --label category --out "$TMP/m2.tmodel" -q --alpha 0.5
"$TRIAGE" train --data "$TMP/train.jsonl" --label category --out "$TMP/m3.tmodel" -q --alpha 0.75
V1=20260101T000000.000Z V2=20260102T000000.000Z V3=20260103T000000.000Z
cp "$TMP/m1.tmodel" "$OBJ/triage/default/$V1.tmodel"
touch "$F/badkey"

python3 "$ROOT/tests/integration/fake_s3.py" "$OBJ" >"$TMP/s3.out" 2>"$TMP/s3.err" &
CLEANUP+=("kill $!")
eventually 10 test -s "$TMP/s3.out"
S3URL=$(head -1 "$TMP/s3.out")
cat >"$TMP/w.conf" <<CONF
[kafka]
bootstrap.servers = embedded
[admin]
listen = 127.0.0.1:0
[model]
source = s3://models/triage
poll.interval = 500ms
cache.dir = $TMP/cache
s3.endpoint = $S3URL
s3.access.key = test
s3.secret.key = test
s3.timeout.ms = 60000
s3.retries = 2
CONF
loaded() { grep -q "event=model_loaded .*version=\"\\?$1" "$TMP/${2:-w}.log"; }
metric() { curl -s "http://127.0.0.1:$(admin_port w)/metrics" | grep "^$1" | head -1; }

echo "-- a key with a control character in the store"
start_triaged w "$TMP/w.conf"
start_triaged w2 "$TMP/w.conf"
check "the default model loads despite the bad key" eventually 30 loaded "$V1"
check "... in the instance sharing the cache too" eventually 30 loaded "$V1" w2
check "the bad key is named in the log" eventually 10 grep -q 'event=store_keys_skipped count=2 .*accounts/a?b' "$TMP/w.log"
check "and counted in a metric" eventually 10 bash -c "curl -s http://127.0.0.1:$(admin_port w)/metrics | grep -q '^triage_model_store_bad_keys 2'"

echo "-- a body longer than its listed size"
touch "$F/overlong"
cp "$TMP/m2.tmodel" "$OBJ/triage/default/$V2.tmodel"
check "the transfer fails as a store error" eventually 30 grep -q "event=model_refused .*version=\"\\?$V2.*reason=store" "$TMP/w.log"
cached=$(du -sb "$TMP/cache" | cut -f1)
expect_ge "the cache holds no more than the listed bytes of two versions (64 MiB were sent): 3 x one model >= cache" $(( $(stat -c %s "$TMP/m2.tmodel") * 3 )) "$cached"
check "no version was refused as a bad model" bash -c "! grep -q 'event=model_refused .*reason=\\(truncated\\|invalid\\|checksum\\)' '$TMP/w.log'"
rm "$F/overlong"
check "the same version loads once the store serves it right" eventually 30 loaded "$V2"
check "... in the instance sharing the cache too" eventually 30 loaded "$V2" w2
kill -TERM "$PID_w2"
check "the second instance stops" eventually 20 bash -c "! kill -0 $PID_w2 2>/dev/null"
expect_eq "the shared cache holds both versions, whole, and no temporary" \
    "$(cd "$TMP/cache/default" && ls | sort | tr '\n' ' ')" "$V1.tmodel $V2.tmodel last-good "
check "... the cached copy is the published one" cmp -s "$TMP/cache/default/$V2.tmodel" "$TMP/m2.tmodel"

echo "-- a listing that never ends"
touch "$F/endless"
check "the listing is cut at its key limit" eventually 60 grep -q "more than 100000 keys" "$TMP/w.log"
rm "$F/endless"
pid=$(pgrep -f "triaged -c $TMP/w.conf" | head -1)
check "memory stayed bounded (RSS under 1 GiB)" test "$(awk '/VmRSS/ {print $2}' /proc/"$pid"/status)" -lt 1048576

echo "-- SIGTERM during a trickling download"
touch "$F/trickle"
cp "$TMP/m3.tmodel" "$OBJ/triage/default/$V3.tmodel"
check "a download is trickling" eventually 30 test -e "$TMP/s3/trickling"
kill -TERM "$PID_w"
check "triaged exits within 10 s (the transfer would take hours)" eventually 10 bash -c "! kill -0 $PID_w 2>/dev/null"
wait "$PID_w"
expect_eq "with status 0" "$?" 0
finish
