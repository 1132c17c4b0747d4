#!/usr/bin/env bash
# Hostile training data and models through the CLI (issue 9, defects 12 and
# 13): labels with NUL bytes stay apart or are refused, a checksummed model
# with out-of-range values is refused, inspect never prints control
# characters from a model's metadata raw.
. "$(dirname "$0")/lib.sh"
SAMPLE=$ROOT/data/sample/airline-tweets.jsonl
head -n 600 "$SAMPLE" >"$TMP/train.jsonl"

echo "-- labels containing NUL"
for i in 1 2 3 4 5 6 7 8; do
    printf '{"id":"n%s","text":"refund my ticket now %s","category":"a\\u0000b"}\n' "$i" "$i"
    printf '{"id":"m%s","text":"the crew was lovely %s","category":"a\\u0000c"}\n' "$i" "$i"
done >>"$TMP/train.jsonl"
expect_status "train with NUL labels in the data" 0 "$TRIAGE" train --data "$TMP/train.jsonl" --label category \
    --out "$TMP/m.tmodel" --quiet
check "the NUL labels are reported as bad labels" grep -q "bad_label" "$TMP/err"
"$TRIAGE" inspect "$TMP/m.tmodel" --json >"$TMP/inspect.json"
check "no label was cut at the NUL (no merged 'a' label)" python3 -c '
import json,sys; labels=json.load(open(sys.argv[1]))["labels"]
sys.exit(0 if not any(l == "a" or l.startswith("a\0") for l in labels) else 1)' "$TMP/inspect.json"

echo "-- control characters in metadata"
name=$(printf 'evil\033]0;pwned\007\033[2J\302\233x\342\200\256y')
expect_status "train with a hostile model name" 0 "$TRIAGE" train --data "$TMP/train.jsonl" --label category \
    --out "$TMP/named.tmodel" --quiet --name "$name"
expect_status "inspect the model" 0 "$TRIAGE" inspect "$TMP/named.tmodel"
check "inspect prints no ESC, BEL, C1 or bidi override byte" python3 -c '
import sys; t=open(sys.argv[1],"rb").read()
sys.exit(0 if not any(b in t for b in (b"\x1b", b"\x07", b"\xc2\x9b", b"\xe2\x80\xae")) else 1)' "$TMP/out"
check "inspect shows them escaped" grep -qF 'evil\x1B]0;pwned\x07\x1B[2J\u{009B}x\u{202E}y' "$TMP/out"

echo "-- checksummed models with hostile values"
# patch_model IN OUT FIELD VALUE: rewrites a CONF float or every WGHT float,
# then the checksum, so only the value checks can refuse it (Debian's python3,
# which has python3-xxhash).
patch_model() {
    /usr/bin/python3 - "$@" <<'PY'
import struct, sys, xxhash
src, dst, field, value = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
f = bytearray(open(src, "rb").read())
nsec = struct.unpack_from("<I", f, 32)[0]
sec = {}
for i in range(nsec):
    sid, _, off, ln = struct.unpack_from("<IIQQ", f, 64 + 24 * i)
    sec[sid] = (off, ln)
if field == "temperature":
    struct.pack_into("<f", f, sec[1][0] + 36, value)
else:
    off, ln = sec[6]
    for p in range(off, off + ln, 4):
        struct.pack_into("<f", f, p, value)
f[24:32] = bytes(8)
f[24:32] = struct.pack("<Q", xxhash.xxh64(bytes(f), seed=0).intdigest())
open(dst, "wb").write(f)
PY
}
patch_model "$TMP/m.tmodel" "$TMP/same.tmodel" temperature 1.5
expect_status "a re-checksummed model with a sane temperature loads" 0 "$TRIAGE" inspect "$TMP/same.tmodel"
patch_model "$TMP/m.tmodel" "$TMP/t.tmodel" temperature 1.4e-45
expect_status "temperature 1.4e-45 is refused" 1 "$TRIAGE" inspect "$TMP/t.tmodel"
check "the refusal names the temperature" grep -q "temperature" "$TMP/err"
patch_model "$TMP/m.tmodel" "$TMP/w.tmodel" weights 3e38
expect_status "weights summing to infinity are refused" 1 "$TRIAGE" inspect "$TMP/w.tmodel"
check "the refusal names a weight" grep -q "weight" "$TMP/err"
printf '{"id":"1","text":"my flight was cancelled"}\n' >"$TMP/one.jsonl"
expect_status "classify refuses it too" 1 "$TRIAGE" classify --model "$TMP/w.tmodel" "$TMP/one.jsonl"
finish
