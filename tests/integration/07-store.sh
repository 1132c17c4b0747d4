#!/usr/bin/env bash
# The object store (src/io/store.c) through build/store-cli. S3: against s3rver
# (scripts/s3-local), mostly behind sigv4_proxy.py, which checks every SigV4
# signature and payload hash as S3 would (s3rver itself checks neither):
# round trip, listing with ETags, conditional GET, not found, wrong
# credentials, retries on injected 429/5xx, a paused and a stopped server
# (bounded retries and time),
# spaces and unicode in keys, more than one page of listing. Then the same for
# a file:// directory, plus hostile keys.
. "$(dirname "$0")/lib.sh"
CLI=$BIN/store-cli
[ -x "$CLI" ] || { echo "missing $CLI (make asan)"; exit 1; }
SECRET=it-secret-Zq9x7   # distinctive, so we can prove it never shows up in messages
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=$SECRET AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_DEFAULT_REGION
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
expect_le() { if awk -v a="$2" -v b="$3" 'BEGIN { exit !(a + 0 <= b + 0) }'; then ok "$1 ($2 <= $3)"; else fail "$1 (got $2, need <= $3)"; fi; }
first_line() { # FILE SECONDS: waits for a first line in FILE, prints it
    local i
    for i in $(seq 1 $(( $2 * 10 ))); do
        [ -s "$1" ] && { head -1 "$1"; return 0; }
        sleep 0.1
    done
    return 1
}

head -c 2500000 /dev/urandom >"$TMP/big.bin"  # > 1 MiB: libcurl sends Expect: 100-continue
printf '20261123T151632.123Z\n' >"$TMP/pin"

echo "-- s3: start s3rver and the verifying proxy"
"$ROOT/scripts/s3-local" --dir "$TMP/s3data" >"$TMP/s3.out" 2>"$TMP/s3.err" &
S3_PID=$!
CLEANUP+=("kill $S3_PID")
S3=$(first_line "$TMP/s3.out" 180) || { echo "s3-local did not start: $(cat "$TMP/s3.err")"; exit 1; }
check "s3-local prints its endpoint first" grep -qE '^http://127\.0\.0\.1:[0-9]+$' <<<"$S3"
python3 "$ROOT/tests/integration/sigv4_proxy.py" "$S3" S3RVER "$SECRET" us-east-1 >"$TMP/px.out" 2>"$TMP/px.err" &
CLEANUP+=("kill $!")
PX=$(first_line "$TMP/px.out" 30) || { echo "sigv4_proxy did not start: $(cat "$TMP/px.err")"; exit 1; }
U=s3://models/it
# Every S3 message is also kept in all.err, to show the secret is in none of them.
cli() { local rc=0; "$CLI" "$@" 2>"$TMP/one.err" || rc=$?; cat "$TMP/one.err" | tee -a "$TMP/all.err" >&2; return $rc; }
sc() { cli --endpoint "$PX" --timeout-ms 10000 "$@"; }      # signatures verified
direct() { cli --endpoint "$S3" --timeout-ms 10000 "$@"; }  # s3rver only

echo "-- s3: round trip, listing, conditional get"
expect_status "put a 2.5 MB object" 0 sc put "$U" default/m.tmodel "$TMP/big.bin"
expect_status "get it back" 0 sc get "$U" default/m.tmodel "$TMP/got.bin"
check "bytes identical" cmp -s "$TMP/big.bin" "$TMP/got.bin"
ETAG=$(sed -n 's/^etag //p' "$TMP/out")
expect_eq "ETag is s3rver's MD5 of the content (quotes stripped)" "$ETAG" "$(md5sum <"$TMP/big.bin" | cut -d' ' -f1)"
expect_status "put the PIN" 0 sc put "$U" default/PIN "$TMP/pin"
expect_status "ls default/" 0 sc ls "$U" default/
expect_eq "ls shows key, size, etag" "$(cut -f1-3 "$TMP/out")" \
    "$(printf 'default/PIN\t21\t%s\ndefault/m.tmodel\t2500000\t%s' "$(md5sum <"$TMP/pin" | cut -d' ' -f1)" "$ETAG")"
expect_ge "ls gives a modification time" "$(awk -F'\t' 'NR == 2 { print $4 }' "$TMP/out")" 1700000000000
expect_status "cat a small object" 0 sc cat "$U" default/PIN
expect_eq "cat gives its bytes" "$(cat "$TMP/out")" "20261123T151632.123Z"
expect_status "a too-small limit is refused" 1 sc cat "$U" default/PIN 5
echo "local" >"$TMP/got.bin"
expect_status "conditional get with the current ETag" 0 sc get "$U" default/m.tmodel "$TMP/got.bin" "$ETAG"
expect_eq "... says not modified" "$(cat "$TMP/out")" "not-modified"
expect_eq "... and leaves the file alone" "$(cat "$TMP/got.bin")" "local"
expect_status "conditional get with a stale ETag downloads" 0 sc get "$U" default/m.tmodel "$TMP/got.bin" 0123456789abcdef
check "... the new bytes" cmp -s "$TMP/big.bin" "$TMP/got.bin"
expect_eq "no temporary objects left in s3rver" "$(find "$TMP/s3data" -name '*uploading*' | wc -l)" 0
expect_eq "no temporary files left next to downloads" "$(find "$TMP" -maxdepth 1 -name '*.tmp.*' | wc -l)" 0

echo "-- s3: errors"
expect_status "missing key: exit 3" 3 sc get "$U" default/none.tmodel "$TMP/none"
expect_eq "... names status, code and message" "$(cat "$TMP/err")" \
    "store-cli: GET default/none.tmodel: 404 NoSuchKey: The specified key does not exist."
check "... and creates no file" test ! -e "$TMP/none"
AWS_ACCESS_KEY_ID=NOBODY expect_status "unknown access key (s3rver checks it)" 1 direct ls "$U" ""
check "... 403 InvalidAccessKeyId" grep -q "LIST (all keys): 403 InvalidAccessKeyId" "$TMP/err"
AWS_SECRET_ACCESS_KEY=wrong-secret expect_status "wrong secret (only the proxy checks it)" 1 sc ls "$U" ""
check "... 403 SignatureDoesNotMatch" grep -q "403 SignatureDoesNotMatch" "$TMP/err"
AWS_SESSION_TOKEN=token-abc expect_status "a session token is sent and signed" 0 sc ls "$U" default/
env -u AWS_ACCESS_KEY_ID "$CLI" --endpoint "$S3" ls "$U" "" >"$TMP/out" 2>"$TMP/err"
expect_eq "no credentials: refused at open" "$?:$(cat "$TMP/err")" \
    "1:store-cli: s3://models/it: no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
expect_status "hostile key refused before any request" 1 sc put "$U" ../x "$TMP/pin"
check "... says why" grep -q '".." segment' "$TMP/err"

echo "-- s3: retries on 429, 5xx and a copy that fails inside a 200"
fault() { curl -sf "$PX/__fault?$1" || echo "  (could not set fault $1)"; }
fault "status=503&code=SlowDown&count=2"
start=$(now)
expect_status "two 503s, then success" 0 sc --retries 3 cat "$U" default/PIN
expect_ge "... after backing off (>= 0.2 + 0.4 s)" "$(elapsed "$start")" 0.6
fault "status=429&code=SlowDown&count=5"
expect_status "429s outlasting the retries: an error" 1 sc --retries 2 cat "$U" default/PIN
expect_eq "... naming the last answer and the attempts" "$(cat "$TMP/err")" \
    "store-cli: GET default/PIN: 429 SlowDown: injected fault (gave up after 3 attempts)"
fault "status=500&count=1"
expect_status "a 500 on a delete is retried" 0 sc rm "$U" default/nothing
fault "status=200&code=InternalError&count=1&after=1"
expect_status "a copy failing inside a 200 is retried" 0 sc put "$U" default/copied "$TMP/pin"
expect_status "... and the object is there" 0 sc cat "$U" default/copied
expect_eq "... whole" "$(cat "$TMP/out")" "20261123T151632.123Z"
fault "status=403&code=AccessDenied&count=1"
start=$(now)
expect_status "a 403 is not retried" 1 sc --retries 3 cat "$U" default/PIN
expect_le "... fails at once" "$(elapsed "$start")" 1.5
expect_eq "... message as S3 words it" "$(cat "$TMP/err")" "store-cli: GET default/PIN: 403 AccessDenied: injected fault"

echo "-- s3: keys with spaces and unicode; more than one page"
KEY="dir with space/ünï cödé (1) & co.bin"
expect_status "put a key with spaces and unicode" 0 sc put "$U" "$KEY" "$TMP/pin"
expect_status "get it" 0 sc get "$U" "$KEY" "$TMP/u.bin"
check "... same bytes" cmp -s "$TMP/pin" "$TMP/u.bin"
sc ls "$U" "dir with" >"$TMP/out"
expect_eq "ls shows the key as written" "$(cut -f1 "$TMP/out")" "$KEY"
args=()
for i in $(seq -w 0 1004); do args+=("many/k$i" "$TMP/pin"); done
start=$(now)
expect_status "put 1005 objects (one connection)" 0 direct put "$U" "${args[@]}"
echo "     ($(elapsed "$start") s)"
expect_status "ls them (pages of 1000, signed continuation tokens)" 0 sc ls "$U" many/
expect_eq "all 1005 listed" "$(wc -l <"$TMP/out")" 1005
expect_eq "each once, in order" "$(cut -f1 "$TMP/out" | sort -u | wc -l):$(head -1 "$TMP/out" | cut -f1):$(tail -1 "$TMP/out" | cut -f1)" \
    "1005:many/k0000:many/k1004"
expect_status "rm" 0 sc rm "$U" many/k0000
expect_status "... then it is gone" 3 sc get "$U" many/k0000 "$TMP/gone"
check "the proxy rejected only the wrong-secret request" \
    test "$(grep -vc "injected fault" "$TMP/px.err"):$(grep -c SignatureDoesNotMatch "$TMP/px.err")" = 1:1

echo "-- s3: a paused server (timeouts) and a stopped one (refused)"
NODE=$(pgrep -P "$S3_PID" | head -1)
kill -STOP "$NODE"
start=$(now)
expect_status "paused s3rver: an error, not a hang" 1 direct --timeout-ms 1000 --retries 2 ls "$U" ""
t=$(elapsed "$start")
kill -CONT "$NODE"
check "... a timeout, after 3 attempts" grep -q "timed out.*(gave up after 3 attempts)" "$TMP/err"
expect_ge "... each attempt waited its timeout" "$t" 3
# 3 x 1 s of timeouts + backoff (at most 0.3 + 0.6 s) + process start-up slack.
expect_le "... and gave up in bounded time" "$t" 6
expect_status "resumed s3rver answers again" 0 direct ls "$U" default/
kill -TERM "$S3_PID"
rc=0
for _ in $(seq 1 100); do kill -0 "$S3_PID" 2>/dev/null || break; sleep 0.1; done
wait "$S3_PID" || rc=$?
expect_eq "s3-local exits 0 on SIGTERM" "$rc" 0
check "... and its node process is gone" test -z "$(ps -o pid= -p "$NODE")"
start=$(now)
expect_status "stopped s3rver: an error" 1 direct --timeout-ms 1000 --retries 3 get "$U" default/PIN "$TMP/x"
t=$(elapsed "$start")
check "... connection refused, after 4 attempts" grep -q "connect.*(gave up after 4 attempts)" "$TMP/err"
# Backoff at most 0.3 + 0.6 + 1.2 s; refusals are immediate.
expect_le "... in bounded time" "$t" 4
expect_ge "S3 errors were seen" "$(wc -l <"$TMP/all.err")" 8
check "the secret never appears in any of them" sh -c "! grep -qs -- '$SECRET' '$TMP/all.err' '$TMP/s3.err'"

echo "-- file://"
mkdir -p "$TMP/dir"
F=file://$TMP/dir
expect_status "put" 0 "$CLI" put "$F" default/m.tmodel "$TMP/big.bin"
expect_status "get" 0 "$CLI" get "$F" default/m.tmodel "$TMP/fgot.bin"
check "bytes identical" cmp -s "$TMP/big.bin" "$TMP/fgot.bin"
FETAG=$(sed -n 's/^etag //p' "$TMP/out")
"$CLI" ls "$F" default/ >"$TMP/out"
expect_eq "ls shows key, size, etag" "$(cut -f1-3 "$TMP/out")" "$(printf 'default/m.tmodel\t2500000\t%s' "$FETAG")"
expect_status "conditional get" 0 "$CLI" get "$F" default/m.tmodel "$TMP/fgot.bin" "$FETAG"
expect_eq "... not modified" "$(cat "$TMP/out")" "not-modified"
"$CLI" put "$F" default/m.tmodel "$TMP/pin" >/dev/null
expect_status "after a new put the old ETag" 0 "$CLI" get "$F" default/m.tmodel "$TMP/fgot.bin" "$FETAG"
check "... downloads the new object" cmp -s "$TMP/pin" "$TMP/fgot.bin"
expect_status "missing key: exit 3" 3 "$CLI" get "$F" default/none.tmodel "$TMP/none"
expect_eq "... message" "$(cat "$TMP/err")" "store-cli: GET default/none.tmodel: no such object"
expect_status "hostile key ../x refused" 1 "$CLI" put "$F" ../x "$TMP/pin"
check "... nothing written outside the directory" test ! -e "$TMP/x"
expect_status "hostile key on get" 1 "$CLI" get "$F" ../big.bin "$TMP/h"
expect_status "absolute key refused" 1 "$CLI" get "$F" /etc/passwd "$TMP/h"
expect_status "spaces and unicode" 0 "$CLI" put "$F" "$KEY" "$TMP/pin"
expect_status "... get" 0 "$CLI" get "$F" "$KEY" "$TMP/fu.bin"
check "... same bytes" cmp -s "$TMP/pin" "$TMP/fu.bin"
check "... stored under that path" test -f "$TMP/dir/$KEY"
expect_status "rm" 0 "$CLI" rm "$F" "$KEY"
expect_status "rm again: not found" 3 "$CLI" rm "$F" "$KEY"
expect_eq "no temporary files left" "$(find "$TMP/dir" -name '*uploading*' | wc -l)" 0
expect_status "a missing directory is an error at open" 3 "$CLI" ls "file://$TMP/nodir" ""

finish
