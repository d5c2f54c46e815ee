"""vmediad under systemd (Type=notify): READY=1 once the socket listens,
watchdog pings at half of WATCHDOG_USEC, and a STATUS= line with the LUNs,
received on a real AF_UNIX datagram socket as systemd would offer it."""
import os
import re
import socket
import subprocess
import time

import pytest

from conftest import VMEDIAD, Api, check_response, free_port
from test_images import wait_for
from test_luns import host, insert, put


class Notify:
    """The socket systemd would pass in NOTIFY_SOCKET."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.name = path if not path.startswith("\0") else "@" + path[1:]
        self.got = []

    def recv(self, timeout):
        self.sock.settimeout(timeout)
        try:
            msg = self.sock.recv(4096).decode()
        except socket.timeout:
            return None
        self.got.append((time.monotonic(), msg))
        return msg

    def until(self, pred, timeout):
        """Messages until one satisfies pred; that one (or None)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = self.recv(max(0.01, end - time.monotonic()))
            if m is not None and pred(m):
                return m
        return None


@pytest.fixture
def notified(tmpdir_path):
    """Starts vmediad with NOTIFY_SOCKET (and WATCHDOG_USEC if given)."""
    procs = []

    def start(watchdog_usec=None, abstract=False, extra=()):
        path = os.path.join(tmpdir_path, "notify")
        n = Notify("\0vmedia-test-%d" % os.getpid() if abstract else path)
        env = dict(os.environ, NOTIFY_SOCKET=n.name)
        if watchdog_usec:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        port = free_port()
        log = open(os.path.join(tmpdir_path, "vmediad.log"), "w")
        p = subprocess.Popen([VMEDIAD, "--listen", "127.0.0.1:%d" % port, "--storage",
                              os.path.join(tmpdir_path, "images"), "--log-level", "debug"] +
                             list(extra), env=env, stdout=subprocess.DEVNULL, stderr=log)
        procs.append((p, log))
        return p, n, port

    yield start
    for p, log in procs:
        p.terminate()
        assert p.wait(10) == 0
        log.close()
        text = open(log.name).read()
        assert "runtime error:" not in text and "Sanitizer" not in text, text


def test_ready_is_sent_once_the_socket_listens(notified):
    p, n, port = notified()
    msg = n.until(lambda m: "READY=1" in m, 10)
    assert msg is not None, n.got
    # At that moment the port accepts connections and answers.
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.close()
    assert "STATUS=LUN 0: empty; LUN 1: empty\n" in msg
    # Without a watchdog asked for there are no pings.
    assert n.until(lambda m: "WATCHDOG=1" in m, 1.0) is None


def test_abstract_notify_socket(notified):
    p, n, port = notified(abstract=True)
    assert n.until(lambda m: "READY=1" in m, 10) is not None


def test_watchdog_pings_at_half_the_interval(notified):
    p, n, port = notified(watchdog_usec=400000)
    assert n.until(lambda m: "READY=1" in m, 10)
    t0 = time.monotonic()
    pings = 0
    while time.monotonic() - t0 < 2.0:
        m = n.recv(0.5)
        pings += m is not None and "WATCHDOG=1" in m
    # Every 200 ms: 10 in 2 s; systemd needs one per 400 ms.
    assert 7 <= pings <= 11, n.got


def test_status_line_follows_the_luns(notified):
    p, n, port = notified()
    assert n.until(lambda m: "READY=1" in m, 10)
    api = Api("http://127.0.0.1:%d" % port)
    put(api, "d.iso")
    assert insert(api, 1, "d.iso").status_code == 200
    assert n.until(lambda m: "STATUS=LUN 0: empty; LUN 1: d.iso (cdrom, ro)\n" in m, 3), n.got


def test_a_lun_stuck_in_the_kernel_shows_but_does_not_stop_the_pings(notified):
    """A plain eject behind a host that stopped reading stays inside the
    kernel: STATUS= and /status name it after 5 s, the watchdog keeps
    pinging (a restart would not free it), and force=1 ends it."""
    p, n, port = notified(watchdog_usec=1000000, extra=["--api-wait-ms", "100"])
    assert n.until(lambda m: "READY=1" in m, 10)
    api = Api("http://127.0.0.1:%d" % port)
    put(api, "a.img")
    # The short API bound is for the eject below; a loaded machine may take
    # longer than it for the insert (202), which then completes by itself.
    assert insert(api, 0, "a.img", cdrom=False).status_code in (200, 202)
    assert wait_for(lambda: api.get("/luns/0").json()["state"] == "inserted", 10)
    host(api, 0, hang=1)
    assert api.post("/luns/0/eject").status_code == 202
    w = api.get("/status").json()["health"]["workers"][0]
    assert w["state"] == "busy" and w["operation"] == "eject"
    stuck = n.until(lambda m: "STUCK" in m, 8)
    assert stuck is not None, n.got
    assert re.search(r"STATUS=LUN 0: a\.img \(disk, changing\), STUCK in the kernel \(eject\) "
                     r"for [5-9] s; LUN 1: empty\n", stuck), stuck
    st = api.get("/status").json()["health"]
    assert st["workers"][0]["state"] == "stuck" and st["workers"][0]["in_kernel_ms"] >= 5000
    assert st["workers"][1] == {"lun": 1, "state": "idle", "operation": None, "in_kernel_ms": 0}
    assert "STUCK" in st["summary"]
    # The pings went on all the while (every 500 ms): 8 and more since READY.
    # Their spacing is measured now, receiving and doing nothing else (the
    # time of a datagram read after the HTTP calls above is not its send time).
    assert sum("WATCHDOG=1" in m for t, m in n.got) >= 8, n.got
    start = len(n.got)
    end = time.monotonic() + 2.5
    while time.monotonic() < end:
        n.recv(0.2)
    pings = [t for t, m in n.got[start:] if "WATCHDOG=1" in m]
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    assert len(pings) >= 4 and max(gaps) < 1.0, gaps	# WATCHDOG_USEC is 1 s
    assert "STUCK" in api.get("/status").json()["health"]["summary"]
    assert api.post("/luns/0/eject?force=1").status_code == 200
    assert n.until(lambda m: "STATUS=LUN 0: empty; LUN 1: empty\n" in m, 3), n.got[-3:]
    assert api.get("/status").json()["health"]["workers"][0]["state"] == "idle"


def test_without_notify_socket_there_is_no_watchdog_thread(server):
    pid = server.proc.pid
    names = [open("/proc/%d/task/%s/comm" % (pid, t)).read().strip()
             for t in os.listdir("/proc/%d/task" % pid)]
    assert "vmedia-watch" not in names
    r = server.api.get("/status")
    assert r.json()["health"]["summary"] == "LUN 0: empty; LUN 1: empty"
