"""Authentication: every operation in the spec refuses missing or wrong
credentials, Basic and Bearer work, failures are rate-limited, and vmediad
will not serve off loopback without credentials."""
import base64
import os
import re
import stat
import subprocess
import time

import pytest
import requests

from conftest import SPEC, VMEDIAD, check_response
from test_images import wait_for

PASSWORD = "correct horse battery"


@pytest.fixture
def creds(tmpdir_path):
    path = os.path.join(tmpdir_path, "credentials")
    out = subprocess.run([VMEDIAD, "--auth-file", path, "--add-user", "alice"],
                         input=PASSWORD + "\n", capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    out = subprocess.run([VMEDIAD, "--auth-file", path, "--add-token", "ci"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    return path, token


@pytest.fixture
def secured(make_server, creds):
    path, token = creds
    return make_server(["--auth-file", path, "--auth-max-failures", "1000"]), token


# A sample value for every path parameter of the spec (a new parameter fails
# test_the_operation_list_is_the_spec until it is given one here).
PATH_SAMPLES = {"name": "x.img", "n": "0", "id": "1", "system_id": "target",
                "manager_id": "vmedia", "media_id": "0", "task_id": "1", "path": "Chassis"}
# OpenAPI 3.1's operation fields of a path item, and the other fields it may have.
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PATH_ITEM_FIELDS = ("summary", "description", "servers", "parameters", "$ref")


def _concrete(template):
    return re.sub(r"\{([^}]+)\}", lambda m: PATH_SAMPLES.get(m.group(1), "1"), template)


def _all_operations():
    """Every method of every path in the spec, with its security."""
    for template, item in SPEC["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield method.upper(), template, op.get("security")


def _operations():
    # security: [] marks what is public by design (Redfish's service root).
    return sorted((m, t) for m, t, sec in _all_operations() if sec != [])


def _public_operations():
    return sorted((m, t) for m, t, sec in _all_operations() if sec == [])


def test_the_operation_list_is_the_spec():
    """The parametrized tests below cover every operation: nothing in a path
    item is skipped for being unknown, every path parameter has a sample."""
    for template, item in SPEC["paths"].items():
        unknown = set(item) - set(HTTP_METHODS) - set(PATH_ITEM_FIELDS)
        assert not unknown, (template, unknown)
        for param in re.findall(r"\{([^}]+)\}", template):
            assert param in PATH_SAMPLES, "no sample value for {%s} of %s" % (param, template)
    ops = list(_all_operations())
    assert len(ops) == len(_operations()) + len(_public_operations())
    assert {m for m, _, _ in ops} >= {"GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"}


@pytest.mark.parametrize("method,template", _operations())
def test_every_operation_refuses_missing_and_wrong_credentials(secured, method, template):
    srv, token = secured
    path = _concrete(template)
    for headers in ({}, {"Authorization": "Basic " + base64.b64encode(b"alice:wrong").decode()},
                    {"Authorization": "Bearer " + "0" * 64},
                    {"Authorization": "Digest whatever"}):
        r = srv.api.request(method, path, headers=headers, data=b"{}", timeout=10)
        assert r.status_code == 401, (method, path, headers, r.status_code)
        if method != "HEAD":
            assert r.json()["error"]["code"] == "unauthorized"
        assert any("Basic" in v for k, v in r.headers.items() if k.lower() == "www-authenticate")


def _undeclared_operations():
    # What a path does not list is answered too (x-undeclared-method): it
    # must ask for credentials first, as the operations above do.
    return sorted((m, t) for t, item in SPEC["paths"].items() for m in ("POST", "PATCH")
                  if m.lower() not in item)


@pytest.mark.parametrize("method,template", _undeclared_operations())
def test_an_undeclared_method_refuses_missing_credentials_too(secured, method, template):
    srv, _ = secured
    r = srv.api.request(method, _concrete(template), data=b"{}", timeout=10)
    assert r.status_code == 401, (method, template, r.status_code)


@pytest.mark.parametrize("method,template", _public_operations())
def test_public_operations_need_no_credentials(secured, method, template):
    srv, _ = secured
    r = srv.api.request(method, _concrete(template), timeout=10)
    assert r.status_code != 401, (method, template, r.status_code)


def test_credentials_file_holds_no_secret_and_is_private(creds):
    path, token = creds
    text = open(path).read()
    assert PASSWORD not in text and token not in text
    assert "pbkdf2-sha256" in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_basic_and_bearer_are_accepted(secured):
    srv, token = secured
    r = srv.api.get("/luns", auth=("alice", PASSWORD))
    assert r.status_code == 200
    r = srv.api.get("/luns", headers={"Authorization": "Bearer " + token})
    assert r.status_code == 200
    r = srv.api.put("/images/a.img", data=b"data", auth=("alice", PASSWORD))
    assert r.status_code == 201
    out = subprocess.run(["curl", "-s", "-u", "alice:" + PASSWORD, "-X", "POST",
                          srv.url + "/luns/0/eject?force=1"], capture_output=True, text=True)
    assert '"id":0' in out.stdout
    # The access log line is written once the reply has gone out.
    assert wait_for(lambda: "alice POST /luns/0/eject" in srv.log())


@pytest.mark.parametrize("value", [
    "====", "=", "a===", "YQ==", "YWRtaW4=", "YW=u", "YWxpY2U6\u00e9", "Og==",
    "%s===" % base64.b64encode(b"alice:x").decode(),
    base64.b64encode(b"alice:" + b"x" * 500).decode(),
    base64.b64encode(b"alice\0:pw").decode(),
])
def test_malformed_basic_credentials_are_401_and_harm_nothing(secured, value):
    """Before login: an all-'=' credential made the decoded length negative
    and wrote below a stack buffer (the ASan build died)."""
    srv, _ = secured
    r = srv.api.get("/luns", headers={"Authorization": "Basic " + value})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    assert srv.api.get("/luns", auth=("alice", PASSWORD)).status_code == 200


def test_web_ui_and_events_need_credentials_too(secured):
    srv, token = secured
    assert requests.get(srv.url + "/").status_code == 401
    r = requests.get(srv.url + "/events", stream=True, timeout=5)
    assert r.status_code == 401
    r = requests.get(srv.url + "/events", stream=True, timeout=5, auth=("alice", PASSWORD))
    assert r.status_code == 200
    assert next(r.iter_lines()).startswith(b"event: state")
    r.close()


def test_public_status_is_optional(make_server, creds):
    path, _ = creds
    srv = make_server(["--auth-file", path, "--public-status"])
    assert srv.api.get("/status").status_code == 200
    assert srv.api.get("/luns").status_code == 401


def test_failures_are_rate_limited_per_address(make_server, creds):
    path, _ = creds
    srv = make_server(["--auth-file", path, "--auth-max-failures", "3", "--auth-window", "6"])
    for _ in range(3):
        assert srv.api.get("/luns", auth=("alice", "nope")).status_code == 401
    r = srv.api.get("/luns", auth=("alice", PASSWORD))
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 6
    assert r.json()["error"]["code"] == "too_many_attempts"
    assert "failed Basic authentication from 127.0.0.1" in srv.log()
    time.sleep(int(r.headers["Retry-After"]) + 0.2)
    assert srv.api.get("/luns", auth=("alice", PASSWORD)).status_code == 200


def test_off_loopback_needs_credentials_or_a_loud_opt_out(tmpdir_path, creds):
    out = subprocess.run([VMEDIAD, "--listen", "0.0.0.0:0", "--storage",
                          os.path.join(tmpdir_path, "s")], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode != 0
    assert "without authentication" in out.stderr and "--auth-file" in out.stderr


def test_insecure_opt_out_starts_with_a_warning():
    # make_server listens on 127.0.0.1; this one is started by hand.
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = subprocess.Popen([VMEDIAD, "--listen", "0.0.0.0:%d" % port, "--insecure-no-auth",
                          "--storage", "/tmp/vmedia-insecure-test"], stderr=subprocess.PIPE,
                         text=True)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if requests.get("http://127.0.0.1:%d/status" % port, timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        assert requests.get("http://127.0.0.1:%d/luns" % port).status_code == 200
    finally:
        p.terminate()
        err = p.communicate(timeout=10)[1]
        subprocess.run(["rm", "-rf", "/tmp/vmedia-insecure-test"])
    assert "NO AUTHENTICATION" in err


def test_bad_credentials_file_is_refused_at_start(tmpdir_path):
    path = os.path.join(tmpdir_path, "bad")
    with open(path, "w") as f:
        f.write("user bob plaintext hunter2\n")
    os.chmod(path, 0o600)
    out = subprocess.run([VMEDIAD, "--auth-file", path, "--storage",
                          os.path.join(tmpdir_path, "s")], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode != 0 and "bad:1" in out.stderr


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o644], ids=oct)
def test_a_credentials_file_open_to_others_is_refused_at_start(tmpdir_path, creds, mode):
    path, token = creds
    os.chmod(path, mode)
    out = subprocess.run([VMEDIAD, "--auth-file", path, "--storage",
                          os.path.join(tmpdir_path, "s")], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode != 0, out.stderr
    assert path in out.stderr and "chmod 600" in out.stderr and "%04o" % mode in out.stderr, \
        out.stderr


def test_add_user_does_not_echo_the_password_on_a_terminal(tmpdir_path):
    import pty
    import select
    path = os.path.join(tmpdir_path, "c")
    master, slave = pty.openpty()
    p = subprocess.Popen([VMEDIAD, "--auth-file", path, "--add-user", "tty"],
                         stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    seen = b""

    def read_for(seconds):
        nonlocal seen
        end = time.time() + seconds
        while time.time() < end:
            r, _, _ = select.select([master], [], [], 0.1)
            if r:
                try:
                    seen += os.read(master, 4096)
                except OSError:	# the other side closed
                    return

    try:
        deadline = time.time() + 10
        while b"Password for tty" not in seen and time.time() < deadline:
            read_for(0.1)
        assert b"Password for tty" in seen, seen
        os.write(master, PASSWORD.encode() + b"\n")
        assert p.wait(10) == 0, seen
        read_for(0.3)
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)
    assert PASSWORD.encode() not in seen, seen
    assert b"user tty saved" in seen, seen
    with open(path) as f:
        assert re.search(r"^user tty pbkdf2-sha256 ", f.read(), re.M)


def test_short_password_is_refused(tmpdir_path):
    out = subprocess.run([VMEDIAD, "--auth-file", os.path.join(tmpdir_path, "c"),
                          "--add-user", "bob"], input="short\n", capture_output=True, text=True)
    assert out.returncode == 2 and "8 characters" in out.stderr


def test_https_with_the_given_certificate(make_server, tmpdir_path, creds):
    cert, key = os.path.join(tmpdir_path, "c.pem"), os.path.join(tmpdir_path, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    path, token = creds
    srv = make_server(["--tls-cert", cert, "--tls-key", key, "--auth-file", path])
    base = "https://127.0.0.1:%d" % srv.port
    r = requests.get(base + "/luns", verify=cert, headers={"Authorization": "Bearer " + token})
    assert r.status_code == 200
    check_response("GET", "/luns", r)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(base + "/luns")	# not trusted without the certificate
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get("http://127.0.0.1:%d/luns" % srv.port, timeout=3)
    assert "with TLS" in srv.log()


def test_tls_key_without_pem_is_refused(tmpdir_path):
    bad = os.path.join(tmpdir_path, "x.pem")
    with open(bad, "w") as f:
        f.write("not a certificate")
    out = subprocess.run([VMEDIAD, "--tls-cert", bad, "--tls-key", bad, "--storage",
                          os.path.join(tmpdir_path, "s"), "--listen", "127.0.0.1:0"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode != 0 and "not a PEM file" in out.stderr
