"""Black-box fixtures: the real vmediad binary on a free loopback port, and
an HTTP client that checks every response against api/openapi.yaml."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

import jsonschema
import pytest
import requests
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VMEDIAD = os.environ.get("VMEDIAD", os.path.join(ROOT, "build", "vmediad"))
# Under valgrind (VMEDIAD_WRAPPER) or qemu-user (VMEDIAD_SLOW=1) vmediad
# starts and stops more slowly.
SLOW = bool(os.environ.get("VMEDIAD_WRAPPER") or os.environ.get("VMEDIAD_SLOW"))

with open(os.path.join(ROOT, "api", "openapi.yaml")) as f:
    SPEC = yaml.safe_load(f)


def _template_regex(template):
    parts = re.split(r"(\{[^}]+\})", template)
    rx = "".join("(?P<%s>.+)" % p[1:-1] if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile("^" + rx + "$")


PATHS = sorted(((t, _template_regex(t)) for t in SPEC["paths"]), key=lambda p: -len(p[0]))


def spec_path_for(path):
    """The template in the spec that a concrete path belongs to."""
    path = path.split("?")[0]
    # Below /redfish a trailing slash is ignored (the spec says so at
    # /redfish/v1/{path}): /redfish/v1/Systems/ is /redfish/v1/Systems.
    if path.startswith("/redfish") and len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    for template, rx in PATHS:
        # A concrete template wins over one with parameters.
        if template == path:
            return template
    for template, rx in PATHS:
        if rx.match(path) and "{" in template:
            return template
    return None


def _resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/")
        node = SPEC
        for part in ref[2:].split("/"):
            node = node[part]
    return node


def check_response(method, path, resp):
    """Asserts that resp is what the spec says method+path may answer."""
    template = spec_path_for(path)
    assert template is not None, "path %s is not in api/openapi.yaml" % path
    item = SPEC["paths"][template]
    m = method.lower()
    if m not in item:
        # One documented answer for every method a path does not list.
        responses = SPEC["x-undeclared-method"]["responses"]
        code = str(resp.status_code)
        assert code in responses, "%s %s is not in the spec but answered %d" % (
            method, path, resp.status_code)
        if code == "405":
            assert resp.headers.get("Allow"), "%s %s: 405 without Allow" % (method, path)
            _validate_error(resp, "RedfishError" if template.startswith("/redfish") else "Error")
            return
    else:
        responses = item[m]["responses"]
    code = str(resp.status_code)
    assert code in responses or "default" in responses, \
        "%s %s answered %s, which the spec does not list (%s)" % (
            method, template, code, ", ".join(responses))
    r = _resolve(responses.get(code, responses.get("default")))
    content = r.get("content")
    if method == "HEAD" or not content:
        return
    ctype = resp.headers.get("Content-Type", "").split(";")[0]
    assert ctype in content, "%s %s %s: Content-Type %s not in spec" % (method, template, code, ctype)
    schema = content[ctype].get("schema")
    if ctype == "application/json" and schema:
        validator = jsonschema.Draft202012Validator(
            schema, resolver=jsonschema.RefResolver.from_schema(SPEC))
        validator.validate(resp.json())


def _validate_error(resp, name="Error"):
    schema = SPEC["components"]["schemas"][name]
    jsonschema.Draft202012Validator(schema).validate(resp.json())


class Api:
    """requests, plus a spec check of every response."""

    def __init__(self, base):
        self.base = base
        self.session = requests.Session()

    def request(self, method, path, check=True, **kw):
        kw.setdefault("timeout", 30)
        resp = self.session.request(method, self.base + path, **kw)
        if check:
            check_response(method, path, resp)
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)


class Server:
    """One vmediad process with its own storage directory. The download
    tests' origin server runs on 127.0.0.1, which vmediad refuses to download
    from unless told: allow_local=False leaves that option out."""

    def __init__(self, storage, log_path, extra=(), allow_local=True):
        self.storage = storage
        self.extra = (["--allow-local-downloads"] if allow_local else []) + list(extra)
        self.proc = None
        self.port = None
        self.log_path = log_path
        # Every stop: (signal sent, exit code, had to be SIGKILLed after the
        # signal was not obeyed); make_server checks them at the end.
        self.stops = []
        self.stop_timeout = 60 if SLOW else 10

    def start(self, port=0):
        self.logf = open(self.log_path, "a")
        wrapper = os.environ.get("VMEDIAD_WRAPPER", "").split()
        # No --web: the UI built into the binary, as installed; started
        # from its storage's parent, not the checkout.
        args = wrapper + [VMEDIAD, "--listen", "127.0.0.1:%d" % port, "--storage", self.storage,
                "--log-level", "debug"] + self.extra
        start_at = self.logf.tell()
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.logf,
                                     cwd=os.path.dirname(self.log_path))
        deadline = time.time() + (60 if SLOW else 10)
        while time.time() < deadline:
            with open(self.log_path, errors="replace") as f:
                f.seek(start_at)
                m = re.search(r"listening on .* \(port (\d+)\)", f.read())
            if m:
                self.port = int(m.group(1))
                self.api = Api("http://127.0.0.1:%d" % self.port)
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("vmediad exited: " + self.log())
            time.sleep(0.02)
        raise RuntimeError("vmediad did not start: " + self.log())

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM):
        """Sends sig (SIGKILL only where a test means it) and returns the
        exit code; None if it was not running."""
        if not self.proc:
            return None
        sent, forced = None, False
        if self.proc.poll() is None:
            sent = sig
            self.proc.send_signal(sig)
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                forced = True
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.stops.append((sent, code, forced))
        self.proc = None
        return code

    def stop_problems(self):
        """What went wrong with the stops so far: a vmediad that ignored its
        signal and had to be SIGKILLed, one that had exited by itself
        before it was stopped, or an exit code other than 0 (or -9 after a
        deliberate SIGKILL)."""
        problems = []
        for sent, code, forced in self.stops:
            if forced:
                problems.append("did not exit within the time limit after %s and had to be "
                                "SIGKILLed" % signal.Signals(sent).name)
            elif sent is None:
                problems.append("had already exited (code %s) when it was to be stopped" % code)
            elif sent == signal.SIGKILL:
                if code != -signal.SIGKILL:
                    problems.append("exited with %s when SIGKILLed" % code)
            elif code != 0:
                problems.append("exited with %s after %s" % (code, signal.Signals(sent).name))
        return problems

    def restart(self, sig=signal.SIGTERM):
        port = self.port
        self.stop(sig)
        return self.start(port)


def free_port():
    """A loopback TCP port free at the moment of asking."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def tmpdir_path():
    with tempfile.TemporaryDirectory(prefix="vmedia-test-") as d:
        yield d


@pytest.fixture
def make_server(tmpdir_path):
    servers = []

    def make(extra=(), storage=None, allow_local=True):
        n = len(servers)
        srv = Server(storage or os.path.join(tmpdir_path, "images%d" % n),
                     os.path.join(tmpdir_path, "vmediad%d.log" % n), extra, allow_local)
        servers.append(srv)
        return srv.start()

    yield make
    problems = []
    for n, srv in enumerate(servers):
        srv.stop()
        # A clean exit on every SIGTERM (a SIGKILL only where the test sent
        # one), and (in the sanitizer build) no report.
        log = srv.log()
        assert "ERROR: AddressSanitizer" not in log, log
        assert "runtime error:" not in log, log
        assert "WARNING: ThreadSanitizer" not in log, log
        assert not re.search(r"ERROR SUMMARY: [1-9]", log), log	# valgrind
        assert "definitely lost: 0" in log or "definitely lost" not in log, log
        problems += ["vmediad %d %s" % (n, p) for p in srv.stop_problems()]
    assert not problems, "\n".join(problems + ["--- log of vmediad %d (end):\n%s" % (n, s.log()[-4000:])
                                            for n, s in enumerate(servers)])


@pytest.fixture
def server(make_server):
    return make_server()


@pytest.fixture
def api(server):
    return server.api
