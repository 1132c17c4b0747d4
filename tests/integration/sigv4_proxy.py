#!/usr/bin/env python3
"""A SigV4-verifying proxy in front of s3rver, for tests/integration/07-store.sh.

s3rver accepts any well-formed SigV4 Authorization header without checking
the signature, so on its own it cannot tell whether the store signs correctly.
This proxy recomputes every signature the way S3 does (the canonical URI and
query rebuilt from the decoded request, so a client that encodes differently
fails, exactly as against AWS), checks x-amz-content-sha256 against the body,
and forwards good requests to s3rver; bad ones get a 403 SignatureDoesNotMatch
(or XAmzContentSHA256Mismatch) S3 error document and a line on stderr.

Faults on demand, for retry tests: GET /__fault?status=503&code=SlowDown&count=2&after=0
(unsigned, not forwarded) makes the `count` requests that follow the next
`after` ones fail with that status and an S3 error document; status=200 gives
the "error inside a 200" that S3's CopyObject can return.

usage: sigv4_proxy.py UPSTREAM_URL ACCESS_KEY SECRET_KEY REGION
Prints its own URL (http://127.0.0.1:PORT) as the first stdout line.
"""
import hashlib
import hmac
import http.client
import http.server
import sys
import threading
import urllib.parse
from xml.sax.saxutils import escape

UPSTREAM, ACCESS, SECRET, REGION = sys.argv[1:5]
up = urllib.parse.urlsplit(UPSTREAM)
fault = {"status": 0, "code": "", "count": 0, "after": 0}
fault_lock = threading.Lock()


def take_fault():
    with fault_lock:
        if fault["count"] <= 0:
            return None
        if fault["after"] > 0:
            fault["after"] -= 1
            return None
        fault["count"] -= 1
        return fault["status"], fault["code"]


def enc(s, keep_slash):
    return urllib.parse.quote(s, safe="/~" if keep_slash else "~")


def canonical(method, raw_path, raw_query, headers, signed, payload_hash):
    path = enc(urllib.parse.unquote(raw_path), True)
    pairs = []
    if raw_query:
        for part in raw_query.split("&"):
            k, _, v = part.partition("=")
            pairs.append((enc(urllib.parse.unquote(k), False), enc(urllib.parse.unquote(v), False)))
    query = "&".join("%s=%s" % kv for kv in sorted(pairs))
    lines = []
    for name in signed:
        vals = headers.get_all(name) or []
        lines.append("%s:%s\n" % (name, ",".join(" ".join(v.split()) for v in vals)))
    return "\n".join([method, path, query, "".join(lines), ";".join(signed), payload_hash])


def sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def error(self, code, message, status=403):
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message></Error>"
                % (code, escape(message))).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        sys.stderr.write("sigv4_proxy: %s %s: %s %s\n" % (self.command, self.path, code, message))
        sys.stderr.flush()

    def verify(self, body):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return "SignatureDoesNotMatch", "not a SigV4 request"
        fields = dict(f.strip().split("=", 1) for f in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        cred = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        if len(cred) != 5 or cred[0] != ACCESS:
            return "InvalidAccessKeyId", "unknown access key"
        date, region, service, term = cred[1:]
        amz_date = self.headers.get("x-amz-date", "")
        if region != REGION or service != "s3" or term != "aws4_request" or not amz_date.startswith(date):
            return "SignatureDoesNotMatch", "bad credential scope %s" % "/".join(cred[1:])
        for need in ("host", "x-amz-date", "x-amz-content-sha256"):
            if need not in signed:
                return "SignatureDoesNotMatch", "%s is not signed" % need
        if self.headers.get("x-amz-security-token") is not None and "x-amz-security-token" not in signed:
            return "SignatureDoesNotMatch", "x-amz-security-token is not signed"
        payload_hash = self.headers["x-amz-content-sha256"]
        if payload_hash != "UNSIGNED-PAYLOAD" and payload_hash != hashlib.sha256(body).hexdigest():
            return "XAmzContentSHA256Mismatch", "x-amz-content-sha256 is not the body's hash"
        raw_path, _, raw_query = self.path.partition("?")
        creq = canonical(self.command, raw_path, raw_query, self.headers, signed, payload_hash)
        sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, "/".join(cred[1:]),
                         hashlib.sha256(creq.encode()).hexdigest()])
        k = sign(("AWS4" + SECRET).encode(), date)
        for part in (region, service, term):
            k = sign(k, part)
        want = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, fields["Signature"]):
            return "SignatureDoesNotMatch", "signature mismatch; canonical request: %r" % creq
        return None

    def relay(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path.startswith("/__fault?"):
            q = dict(urllib.parse.parse_qsl(self.path.split("?", 1)[1]))
            with fault_lock:
                fault.update(status=int(q["status"]), code=q.get("code", "InternalError"),
                             count=int(q.get("count", 1)), after=int(q.get("after", 0)))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        f = take_fault()
        if f:
            self.error(f[1], "injected fault", status=f[0])
            return
        bad = self.verify(body)
        if bad:
            self.error(*bad)
            return
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "expect", "connection")}
        conn.request(self.command, self.path, body=body if n else None, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and r.status != 304:
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_DELETE = do_HEAD = do_POST = relay


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("http://127.0.0.1:%d" % srv.server_address[1], flush=True)
srv.serve_forever()
