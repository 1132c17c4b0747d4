#!/usr/bin/env python3
"""A hostile S3 endpoint for tests (127.0.0.1 only; no signature checks).

Serves objects from DIR (key = path below DIR, the bucket name is ignored)
with ListObjectsV2 listings. Faults are switched on while it runs by files
in DIR/../faults/ (their presence is the switch):
  badkey    the listing also has accounts/a<U+0001>b/{20260101T000000.000Z.tmodel,PIN}
  endless   every listing page says IsTruncated with a new token (1000 keys each)
  overlong  object bodies are followed by up to 64 MiB of junk (no Content-Length)
  trickle   object bodies come one byte a second (writes faults/../trickling first)
Prints its URL on the first line of stdout."""
import os, sys, time, html, urllib.parse
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

root = os.path.abspath(sys.argv[1])
faults = os.path.join(os.path.dirname(root), "faults")
os.makedirs(faults, exist_ok=True)
on = lambda f: os.path.exists(os.path.join(faults, f))


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body, ctype="application/xml"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        parts = u.path.lstrip("/").split("/", 1)
        q = urllib.parse.parse_qs(u.query)
        if len(parts) == 1 or not parts[1]:
            return self.listing(q.get("prefix", [""])[0], q.get("continuation-token", [""])[0])
        path = os.path.join(root, urllib.parse.unquote(parts[1]))
        if not os.path.isfile(path):
            return self.send(404, b"<Error><Code>NoSuchKey</Code><Message>no</Message></Error>")
        data = open(path, "rb").read()
        self.send_response(200)
        self.send_header("ETag", '"%d"' % len(data))
        if on("overlong"):
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                self.wfile.write(data)
                for _ in range(64):
                    self.wfile.write(b"\0" * (1 << 20))
            except OSError:
                pass
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if on("trickle"):
            open(os.path.join(faults, "..", "trickling"), "w").close()
            try:
                for b in data:
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                    time.sleep(1)
            except OSError:
                pass
            return
        self.wfile.write(data)

    def listing(self, prefix, token):
        out = ["<ListBucketResult><Name>models</Name>"]
        if on("endless"):
            n = int(token or "0") + 1
            out.append("<IsTruncated>true</IsTruncated><NextContinuationToken>%d</NextContinuationToken>" % n)
            for i in range(1000):
                out.append("<Contents><Key>%sjunk/%09d-%04d.tmodel</Key><Size>1</Size></Contents>" % (prefix, n, i))
        else:
            out.append("<IsTruncated>false</IsTruncated>")
            keys = []
            for d, _, files in os.walk(root):
                for f in files:
                    keys.append(os.path.relpath(os.path.join(d, f), root))
            if on("badkey"):
                bad = prefix.split("/")[0] + "/accounts/a\x01b/"
                keys += [bad + "20260101T000000.000Z.tmodel", bad + "PIN"]
            for k in sorted(keys):
                if not k.startswith(prefix):
                    continue
                size = os.path.getsize(os.path.join(root, k)) if os.path.exists(os.path.join(root, k)) else 5
                esc = "".join("&#x%x;" % ord(c) if ord(c) < 32 else c for c in html.escape(k))
                out.append("<Contents><Key>%s</Key><Size>%d</Size><ETag>\"%d\"</ETag></Contents>" % (esc, size, size))
        out.append("</ListBucketResult>")
        self.send(200, "".join(out).encode())


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
print("http://127.0.0.1:%d" % srv.server_address[1], flush=True)
srv.serve_forever()
