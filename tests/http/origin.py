"""A small HTTP origin server for download tests, on a loopback port.

Routes (all GET):
  /files/NAME                 the registered blob, with Range, ETag (a Range
                              from the end on is 416, as nginx answers it)
  /cd/NAME?as=FILENAME        the same, with Content-Disposition
  /norange/NAME               ignores Range (always 200 and all bytes)
  /drop/NAME?after=N[&range=0]  first request: full Content-Length, N bytes,
                              then the connection is cut; later ones serve
                              normally (with Range, unless range=0)
  /swap/NAME?after=N[&lm=1]   first request: NAME, cut after N bytes; later ones
                              serve NAME.new, a different file, ignoring If-Range
                              (206 to any Range); validators are ETags, or with
                              lm=1 only Last-Modified dates, that differ
  /slow/NAME?bps=N            sends N bytes per second
  /hang/NAME                  as /files/, but while origin.hanging is set it
                              sends the headers and then nothing more until
                              it is cleared (a hung image server)
  /chunked/NAME               no Content-Length (chunked)
  /partial/NAME?cr=VALUE      206 with the whole blob and Content-Range: VALUE,
                              whatever was asked (a broken or hostile server)
  /redirect?to=URL            302 to URL
  /loop                       302 to itself
  /status/CODE                an empty reply with that status
"""
import hashlib
import http.server
import re
import socket
import socketserver
import threading
import time
import urllib.parse


class Origin:
    def __init__(self, host="127.0.0.1", port=0):
        self.blobs = {}
        self.requests = []
        self.dropped = set()
        self.hanging = False
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                self._head_only = False
                self._dispatch()

            def _dispatch(self):
                origin.requests.append((self.path, dict(self.headers)))
                u = urllib.parse.urlparse(self.path)
                q = dict(urllib.parse.parse_qsl(u.query))
                parts = u.path.strip("/").split("/", 1)
                kind, name = parts[0], (parts[1] if len(parts) > 1 else "")
                try:
                    getattr(self, "_" + kind)(name, q)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_HEAD(self):
                # As GET, without the body (nbdkit's curl plugin asks the
                # size this way).
                self._head_only = True
                self._dispatch()

            def _empty(self, code, headers=()):
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _status(self, name, q):
                self._empty(int(name))

            def _redirect(self, name, q):
                self._empty(302, [("Location", q["to"])])

            def _partial(self, name, q):
                data = origin.blobs[name]
                self.send_response(206)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Range", q["cr"])
                self.end_headers()
                self.wfile.write(data)

            def _loop(self, name, q):
                self._empty(302, [("Location", "/loop")])

            def _serve(self, data, range_ok=True, extra=(), bps=None, cut_after=None,
                       honour_if_range=True, send_etag=True, last_modified=None, hang=False):
                start, end, code = 0, len(data), 200
                rng = self.headers.get("Range")
                etag = '"%s"' % hashlib.sha256(data).hexdigest()[:16]
                if_range = self.headers.get("If-Range") if honour_if_range else None
                if rng and range_ok and (not if_range or if_range in (etag, last_modified)):
                    m = re.match(r"bytes=(\d+)-(\d*)$", rng)
                    if m and data and int(m.group(1)) >= len(data):	# as nginx does
                        self._empty(416, [("Content-Range", "bytes */%d" % len(data))])
                        return
                    if m and int(m.group(1)) < len(data):
                        start, code = int(m.group(1)), 206
                        if m.group(2):
                            end = min(end, int(m.group(2)) + 1)
                self.send_response(code)
                self.send_header("Content-Length", str(end - start))
                if send_etag:
                    self.send_header("ETag", etag)
                if last_modified:
                    self.send_header("Last-Modified", last_modified)
                if range_ok:
                    self.send_header("Accept-Ranges", "bytes")
                if code == 206:
                    self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end - 1, len(data)))
                for k, v in extra:
                    self.send_header(k, v)
                self.end_headers()
                body = data[start:end]
                if self._head_only:
                    return
                if cut_after is not None:
                    self.wfile.write(body[:cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if hang:
                    while origin.hanging:
                        time.sleep(0.05)
                if bps:
                    for i in range(0, len(body), max(1, bps // 10)):
                        self.wfile.write(body[i:i + max(1, bps // 10)])
                        self.wfile.flush()
                        time.sleep(0.1)
                    return
                self.wfile.write(body)

            def _files(self, name, q):
                if name not in origin.blobs:
                    return self._empty(404)
                self._serve(origin.blobs[name])

            def _hang(self, name, q):
                if name not in origin.blobs:
                    return self._empty(404)
                self._serve(origin.blobs[name], hang=True)

            def _cd(self, name, q):
                self._serve(origin.blobs[name],
                            extra=[("Content-Disposition", 'attachment; filename="%s"' % q["as"])])

            def _norange(self, name, q):
                self._serve(origin.blobs[name], range_ok=False)

            def _drop(self, name, q):
                first = name not in origin.dropped
                origin.dropped.add(name)
                self._serve(origin.blobs[name], range_ok=q.get("range", "1") == "1",
                            cut_after=int(q["after"]) if first else None)

            def _swap(self, name, q):
                first = name not in origin.dropped
                origin.dropped.add(name)
                lm = q.get("lm") == "1"
                dates = ("Mon, 01 Dec 2025 10:00:00 GMT", "Tue, 02 Dec 2025 10:00:00 GMT")
                if first:
                    self._serve(origin.blobs[name], cut_after=int(q["after"]), send_etag=not lm,
                                last_modified=dates[0] if lm else None)
                else:
                    self._serve(origin.blobs[name + ".new"], honour_if_range=False,
                                send_etag=not lm, last_modified=dates[1] if lm else None)

            def _slow(self, name, q):
                self._serve(origin.blobs[name], bps=int(q.get("bps", 100000)))

            def _chunked(self, name, q):
                data = origin.blobs[name]
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(0, len(data), 65536):
                    c = data[i:i + 65536]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
                self.wfile.write(b"0\r\n\r\n")

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        self.httpd = Server((host, port), Handler)
        self.port = self.httpd.server_address[1]
        # vmediad refuses loopback unless --allow-local-downloads (the
        # fixtures pass it); an origin on "0.0.0.0" is also reached through
        # the machine's other addresses.
        shown = "[%s]" % host if ":" in host else "127.0.0.1" if host == "0.0.0.0" else host
        self.url = "http://%s:%d" % (shown, self.port)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def add(self, name, data):
        self.blobs[name] = data
        return hashlib.sha256(data).hexdigest()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
