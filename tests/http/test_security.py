"""Security of the transport (issue 18): failed logins counted per client
and user with an atomic reservation, X-Forwarded-For only from a trusted
proxy, the Host allow-list against DNS rebinding, the header deadline and
per-address limits, TLS versions and suites, framing headers, and
ambiguous body framing."""
import concurrent.futures
import os
import socket
import ssl
import subprocess
import time

import pytest
import requests

from conftest import VMEDIAD
from test_auth import PASSWORD, creds  # noqa: F401 (fixture)
from test_malformed import error_of, send_raw, storage_files


def _limited(make_server, creds, *extra):
    path, token = creds
    return make_server(["--auth-file", path, "--auth-max-failures", "3", "--auth-window", "60",
                        *extra]), token


def test_another_users_failures_do_not_lock_out_the_right_credentials(make_server, creds):
    srv, token = _limited(make_server, creds)
    for _ in range(3):
        assert srv.api.get("/luns", auth=("mallory", "guess")).status_code == 401
    assert srv.api.get("/luns", auth=("mallory", "guess")).status_code == 429
    # Tokens (256 random bits) are not limited: wrong ones stay 401.
    for _ in range(5):
        assert srv.api.get("/luns", headers={"Authorization": "Bearer " + "0" * 64}).status_code == 401
    # Same address, but a user and a token the failures were not about.
    assert srv.api.get("/luns", auth=("alice", PASSWORD)).status_code == 200
    assert srv.api.get("/luns", headers={"Authorization": "Bearer " + token}).status_code == 200


def test_parallel_guesses_are_verified_at_most_up_to_the_limit(make_server, creds):
    # 16 connections at once from one address: more than may be pending by default.
    srv, _ = _limited(make_server, creds, "--max-per-ip", "32", "--max-pending-per-ip", "32")

    def guess(i):
        return requests.get(srv.url + "/luns", auth=("alice", "wrong%d" % i), timeout=30).status_code
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(guess, range(16)))
    assert codes.count(401) == 3 and codes.count(429) == 13, codes
    assert srv.log().count("failed Basic authentication") == 3


def test_x_forwarded_for_is_the_client_only_from_the_trusted_proxy(make_server, creds):
    srv, _ = _limited(make_server, creds, "--trusted-proxy", "127.0.0.1")

    def get(xff, pw):
        return srv.api.get("/luns", auth=("alice", pw), headers={"X-Forwarded-For": xff})
    for _ in range(3):
        assert get("192.0.2.7", "nope").status_code == 401
    # A client-written first entry does not change who it is: the proxy's last one counts.
    assert get("198.51.100.1, 192.0.2.7", PASSWORD).status_code == 429
    assert get("192.0.2.8", PASSWORD).status_code == 200
    assert "192.0.2.7" in srv.log()


def test_x_forwarded_for_is_ignored_without_a_trusted_proxy(make_server, creds):
    srv, _ = _limited(make_server, creds)
    for i in range(3):
        r = srv.api.get("/luns", auth=("alice", "nope"), headers={"X-Forwarded-For": "192.0.2.%d" % i})
        assert r.status_code == 401
    r = srv.api.get("/luns", auth=("alice", PASSWORD), headers={"X-Forwarded-For": "192.0.2.99"})
    assert r.status_code == 429


def test_ipv6_clients_are_counted_by_their_64(make_server, creds):
    srv, _ = _limited(make_server, creds, "--trusted-proxy", "127.0.0.1")

    def get(xff, pw):
        return srv.api.get("/luns", auth=("alice", pw), headers={"X-Forwarded-For": xff})
    for i in range(3):
        assert get("2001:db8:0:1::%x" % (i + 1), "nope").status_code == 401
    assert get("2001:db8:0:1:ffff:1:2:3", PASSWORD).status_code == 429
    assert get("2001:db8:0:2::1", PASSWORD).status_code == 200


def test_a_bad_trusted_proxy_is_refused_at_start(tmpdir_path):
    out = subprocess.run([VMEDIAD, "--trusted-proxy", "nginx.local", "--listen", "127.0.0.1:0",
                          "--storage", os.path.join(tmpdir_path, "s")],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode != 0 and "--trusted-proxy 'nginx.local' must be an IP" in out.stderr


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "127.0.0.1.evil.example",
                                  "192.0.2.1", "[2001:db8::1]:80", ""])
def test_a_host_header_of_another_name_is_refused_before_routing(server, host):
    before = storage_files(server)
    status, headers, body = send_raw(server.port, (
        "PUT /images/x.img HTTP/1.1\r\nHost: %s\r\nContent-Length: 4\r\n\r\ndata" % host).encode())
    assert status == 421, body
    assert error_of(body)["code"] == "unknown_host"
    assert headers["connection"] == "close"
    assert storage_files(server) == before


def test_a_host_header_of_another_name_is_refused_before_authentication(make_server, creds):
    srv, _ = _limited(make_server, creds)
    r = srv.api.get("/luns", check=False, auth=("alice", PASSWORD), headers={"Host": "evil.example"})
    assert r.status_code == 421 and r.json()["error"]["code"] == "unknown_host"
    r = srv.api.get("/luns", check=False, headers={"Host": "evil.example"})
    assert r.status_code == 421


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:8080", "ui.localhost", "127.0.0.1",
                                  "127.0.0.1:1234", "[::1]:8080"])
def test_local_names_and_the_listen_address_are_served(server, host):
    r = server.api.get("/luns", headers={"Host": host})
    assert r.status_code == 200


def test_server_names_are_served(make_server):
    srv = make_server(["--server-name", "kvm.example.org", "--server-name", "kvm"])
    for host in ("kvm.example.org", "KVM.example.org.:443", "kvm:8080"):
        assert srv.api.get("/luns", headers={"Host": host}).status_code == 200
    assert srv.api.get("/luns", check=False, headers={"Host": "example.org"}).status_code == 421


def test_origin_is_compared_with_the_allowed_names_not_with_host(make_server):
    srv = make_server(["--server-name", "kvm.example.org"])
    # A rebinding page: Host and Origin both the attacker's name.
    r = srv.api.post("/luns/0/eject", check=False,
                     headers={"Host": "evil.example", "Origin": "http://evil.example"})
    assert r.status_code == 421
    # An allowed Host, but the page is another site's.
    r = srv.api.post("/luns/0/eject", headers={"Host": "kvm.example.org",
                                                "Origin": "http://evil.example"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "cross_site"
    # The UI served under one allowed name may call the API under another.
    r = srv.api.post("/luns/0/eject", headers={"Host": "127.0.0.1:%d" % srv.port,
                                                "Origin": "http://kvm.example.org"})
    assert r.status_code != 403
    r = srv.api.post("/luns/0/eject", headers={"Origin": "null"})
    assert r.status_code == 403


def test_headers_that_do_not_complete_get_408_within_the_deadline(make_server):
    srv = make_server(["--header-timeout", "2"])
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=0.25)
    t0 = time.time()
    s.sendall(b"GET /status HTTP/1.1\r\nHost: localhost\r\n")
    buf = b""
    try:
        while time.time() - t0 < 10:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                s.sendall(b"X")	# a byte now and then: never idle
                continue
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    took = time.time() - t0
    assert buf.startswith(b"HTTP/1.1 408"), buf
    assert b'"request_timeout"' in buf
    assert 1.8 <= took < 4, took
    # The server goes on serving.
    assert srv.api.get("/status").status_code == 200


def _refused(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(b"GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n")
        got = s.recv(100)
    except (ConnectionResetError, BrokenPipeError):
        got = b""
    finally:
        s.close()
    return got == b""


def test_only_a_few_connections_per_address_may_be_sending_headers(server):
    slow = []
    try:
        for _ in range(4):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            s.sendall(b"GET /status HTTP/1.1\r\n")	# and then nothing
            slow.append(s)
        time.sleep(0.3)
        assert _refused(server.port)	# the fifth is closed unanswered
        assert "have not sent their headers yet" in server.log()
    finally:
        for s in slow:
            s.close()
    time.sleep(0.3)
    assert server.api.get("/status").status_code == 200


def test_kept_alive_connections_do_not_count_as_sending_headers(server):
    # A browser keeps several connections open (and one per event stream).
    sessions = [requests.Session() for _ in range(10)]
    for s in sessions:
        assert s.get(server.url + "/status", timeout=10).status_code == 200
    assert server.api.get("/status").status_code == 200
    for s in sessions:
        s.close()


def test_a_browser_opening_six_connections_at_once_is_not_refused(server):
    # Chromium and Firefox open up to six connections to load a page's files
    # (the web UI's modules) before any of them has sent its request: all of
    # them are "sending headers" when the fifth is accepted.
    conns = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(6)]
    try:
        time.sleep(0.05)
        for s in conns:
            s.sendall(b"GET /status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        for s in conns:
            try:
                got = s.recv(100)
            except ConnectionResetError:
                got = b""
            assert got.startswith(b"HTTP/1.1 200"), got
    finally:
        for s in conns:
            s.close()
    assert "have not sent their headers yet" not in server.log()


def test_an_unauthenticated_upload_is_refused_at_once_without_its_body(make_server, creds):
    srv, _ = _limited(make_server, creds)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    t0 = time.time()
    try:
        s.sendall(b"PUT /images/x.img HTTP/1.1\r\nHost: localhost\r\n"
                  b"Content-Length: 10737418240\r\n\r\n" + b"\0" * 65536)
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    assert buf.startswith(b"HTTP/1.1 401"), buf
    head = buf.split(b"\r\n\r\n")[0].lower()
    assert b"connection: close" in head
    assert time.time() - t0 < 3


def test_an_unauthenticated_request_is_not_kept_alive(make_server, creds):
    srv, _ = _limited(make_server, creds)
    r = requests.get(srv.url + "/luns", timeout=10)
    assert r.status_code == 401 and r.headers["Connection"] == "close"


@pytest.mark.parametrize("path", ["/", "/index.html", "/status", "/nothing-here"])
def test_every_page_forbids_framing(server, path):
    r = server.api.get(path, check=False)
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert "Strict-Transport-Security" not in r.headers	# plain HTTP


@pytest.fixture
def tls_server(make_server, tmpdir_path):
    cert, key = os.path.join(tmpdir_path, "c.pem"), os.path.join(tmpdir_path, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return make_server(["--tls-cert", cert, "--tls-key", key]), cert


def _handshake(port, version=None, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if ciphers:
        ctx.set_ciphers(ciphers + ":@SECLEVEL=0")
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw) as s:
            return s.version(), s.cipher()[0]


def test_tls_offers_only_1_2_and_1_3_with_forward_secrecy_and_aead(tls_server):
    srv, cert = tls_server
    version, cipher = _handshake(srv.port)
    assert version == "TLSv1.3", (version, cipher)
    version, cipher = _handshake(srv.port, ssl.TLSVersion.TLSv1_2)
    assert "ECDHE" in cipher and "GCM" in cipher or "CHACHA20" in cipher, cipher
    for old in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            _handshake(srv.port, old, "ALL")
    for weak in ("AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384"):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            _handshake(srv.port, ssl.TLSVersion.TLSv1_2, weak)


def test_tls_answers_carry_hsts(tls_server):
    srv, cert = tls_server
    r = requests.get("https://127.0.0.1:%d/status" % srv.port, verify=cert, timeout=10)
    assert r.status_code == 200
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    assert r.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("headers,status,code", [
    ("Content-Length: 4\r\nContent-Length: 5", 400, "bad_request"),
    ("Content-Length: 4\r\nTransfer-Encoding: chunked", 400, "bad_request"),
    ("Transfer-Encoding: chunked\r\nContent-Length: 4", 400, "bad_request"),
    ("Transfer-Encoding: gzip", 501, "not_implemented"),
    ("Transfer-Encoding: gzip, chunked", 501, "not_implemented"),
    ("Content-Length: 18446744073709551615", 413, "body_too_large"),
])
def test_ambiguous_or_unreadable_framing_is_refused(server, headers, status, code):
    before = storage_files(server)
    t0 = time.time()
    st, hdrs, body = send_raw(server.port, (
        "PUT /images/x.img HTTP/1.1\r\nHost: localhost\r\n%s\r\n\r\n4\r\ndata\r\n0\r\n\r\n"
        % headers).encode(), timeout=5)
    assert st == status, body
    assert error_of(body)["code"] == code
    assert time.time() - t0 < 3
    assert storage_files(server) == before
