"""Streamed LUNs (POST /luns/{n}/insert {"url": ...}) on the sim backend:
the real nbdkit serves the URL on a Unix socket and vmediad checks it with
libnbd; no kernel NBD device (tests/vm scenario 15 has the kernel's)."""
import base64
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import VMEDIAD
from origin import Origin


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.stop()


def nbdkits(storage):
    """The nbdkit processes serving streams of this storage directory."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"nbdkit") and \
                any(os.path.join(storage, ".streams").encode() in a for a in argv):
            found.append((int(pid), argv))
    return found


def gone(storage, secs=10):
    """True once no nbdkit serves this storage (the LUN's worker stops it
    right after the eject's reply)."""
    deadline = time.time() + secs
    while time.time() < deadline:
        if not nbdkits(storage):
            return True
        time.sleep(0.05)
    return False


def insert(api, **body):
    return api.post("/luns/0/insert", json=body)


def test_stream_insert_shows_the_stream_and_eject_stops_it(api, origin, server):
    origin.add("debian.iso", os.urandom(3 << 20))
    r = insert(api, url=origin.url + "/files/debian.iso")
    assert r.status_code == 200, r.text
    lun = r.json()
    assert lun["image"] == "debian.iso" and lun["state"] == "inserted"
    assert lun["cdrom"] and lun["ro"]			# an ISO: a CD-ROM
    st = lun["stream"]
    assert st["url"] == origin.url + "/files/debian.iso"
    assert st["size"] == 3 << 20 and st["running"] and st["device"] is None
    assert st["transfer_protocol"] == "HTTP"
    procs = nbdkits(server.storage)
    assert len(procs) == 1, procs
    # The monitor adds what nbdkit fetched from the server (its log filter).
    deadline = time.time() + 5
    while time.time() < deadline:
        st = api.get("/luns/0").json()["stream"]
        if st["server_bytes"] > 0:
            break
        time.sleep(0.2)
    assert st["server_bytes"] >= 512 and st["bytes_read"] == 512, st
    # Other LUNs have no stream.
    assert api.get("/luns/1").json()["stream"] is None
    r = api.post("/luns/0/eject")
    assert r.status_code == 200, r.text
    assert r.json()["stream"] is None and r.json()["state"] == "empty"
    assert gone(server.storage)
    deadline = time.time() + 5
    while time.time() < deadline and os.listdir(os.path.join(server.storage, ".streams")):
        time.sleep(0.05)
    assert [f for f in os.listdir(os.path.join(server.storage, ".streams"))] == []
    assert "stream 1: closed" in server.log()


def test_credentials_reach_the_server_but_are_never_shown(api, origin, server):
    origin.add("disk.img", os.urandom(1 << 20))
    url = origin.url.replace("http://", "http://alice:s3cret-pw@") + "/files/disk.img"
    r = insert(api, url=url)
    assert r.status_code == 200, r.text
    assert "s3cret-pw" not in r.text and "alice" not in r.text
    assert r.json()["stream"]["url"] == origin.url.replace("http://", "http://***@") + "/files/disk.img"
    assert r.json()["cdrom"] is False and r.json()["ro"] is True
    (pid, argv), = nbdkits(server.storage)
    assert not any(b"s3cret-pw" in a for a in argv), argv	# not on its command line
    # ... but nbdkit's own requests carried them.
    want = "Basic " + base64.b64encode(b"alice:s3cret-pw").decode()
    heads = [h for p, h in origin.requests if p == "/files/disk.img"]
    assert len(heads) >= 2 and all(h.get("Authorization") == want for h in heads), heads
    assert "s3cret-pw" not in server.log()
    assert "s3cret-pw" not in api.get("/luns").text
    for f in os.listdir(os.path.join(server.storage, ".streams")):
        if f.endswith(".sock"):
            continue
        with open(os.path.join(server.storage, ".streams", f), "rb") as fh:
            assert b"s3cret-pw" not in fh.read(), f
    api.post("/luns/0/eject")


def test_a_server_without_ranges_is_refused_and_nothing_is_left(api, origin, server):
    origin.add("x.img", os.urandom(65536))
    r = insert(api, url=origin.url + "/norange/x.img")
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "no_range_support"
    assert "download it instead" in r.json()["error"]["message"]
    assert api.get("/luns/0").json()["state"] == "empty"
    assert nbdkits(server.storage) == []


def test_a_missing_image_is_a_clear_error(api, origin, server):
    r = insert(api, url=origin.url + "/files/nope.img")
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "server_error" and "404" in r.json()["error"]["message"]
    assert nbdkits(server.storage) == []


def test_loopback_is_refused_without_the_option(make_server, origin):
    srv = make_server(allow_local=False)
    origin.add("x.img", os.urandom(4096))
    r = insert(srv.api, url=origin.url + "/files/x.img")
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "address_refused"
    assert nbdkits(srv.storage) == []


@pytest.mark.parametrize("body,status,code", [
    ({"url": "ftp://example.com/x.iso"}, 400, "bad_url"),
    ({"url": "not a url"}, 400, "bad_url"),
    ({"url": "sftp://example.com/"}, 400, "bad_url"),		# no file
    ({"url": "sftp://example.com/~/"}, 400, "bad_url"),
    ({"url": "http://example.com/x.iso", "image": "x.iso"}, 400, "bad_json"),
    ({"url": "http://example.com/x.iso", "ro": False}, 400, "read_only_stream"),
    ({"url": 5}, 400, "bad_json"),
])
def test_bad_stream_requests(api, server, body, status, code):
    r = insert(api, **body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert nbdkits(server.storage) == []


def test_a_busy_lun_refuses_the_stream_without_starting_it(api, origin, server):
    api.put("/images/a.img", data=b"a" * 4096)
    assert insert(api, image="a.img").status_code == 200
    origin.add("x.img", os.urandom(4096))
    r = insert(api, url=origin.url + "/files/x.img")
    assert r.status_code == 409 and r.json()["error"]["code"] == "lun_not_empty"
    assert nbdkits(server.storage) == []
    assert not [p for p, h in origin.requests if p == "/files/x.img"]


def test_forced_eject_of_a_locked_streamed_lun(api, origin, server):
    origin.add("x.img", os.urandom(1 << 20))
    assert insert(api, url=origin.url + "/files/x.img").status_code == 200
    api.post("/sim/luns/0/host?lock=1")
    assert api.post("/luns/0/eject").status_code == 409
    assert len(nbdkits(server.storage)) == 1	# a refused eject leaves it serving
    r = api.post("/luns/0/eject?force=1")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "empty" and r.json()["last_eject"]["ok"]
    assert r.json()["last_eject"]["method"] == "break_io+forced_eject"
    assert gone(server.storage)


def test_a_restart_after_sigkill_stops_what_no_lun_holds(api, origin, server):
    origin.add("x.img", os.urandom(1 << 20))
    assert insert(api, url=origin.url + "/files/x.img").status_code == 200
    (pid, _), = nbdkits(server.storage)
    server.restart(signal.SIGKILL)
    # The sim's LUNs do not survive a restart: the stream has no LUN left.
    deadline = time.time() + 10
    while time.time() < deadline and nbdkits(server.storage):
        time.sleep(0.1)
    assert nbdkits(server.storage) == []
    assert os.listdir(os.path.join(server.storage, ".streams")) == []
    assert "was left by an earlier run and no LUN holds it" in server.log()
    assert not os.path.exists("/proc/%d/cmdline" % pid) or \
        open("/proc/%d/cmdline" % pid, "rb").read() == b""	# gone (or a zombie)
    assert server.api.get("/luns/0").json()["state"] == "empty"


def test_stream_events_carry_the_stream(api, origin, server):
    origin.add("x.img", os.urandom(65536))
    assert insert(api, url=origin.url + "/files/x.img").status_code == 200
    # The initial state of /events has the stream of LUN 0.
    r = api.request("GET", "/events", check=False, stream=True, timeout=5)
    first = b""
    for chunk in r.iter_content(4096):
        first += chunk
        if b"\n\n" in first:
            break
    r.close()
    data = [ln[5:] for ln in first.decode().split("\n") if ln.startswith("data:")]
    state = json.loads(data[0])
    assert state["luns"][0]["stream"]["url"] == origin.url + "/files/x.img"
    api.post("/luns/0/eject")


def test_block_size_and_delay_options_shape_the_requests(make_server, origin):
    """--stream-block sets how much one request to the server asks for;
    --stream-delay-ms puts nbdkit's delay filter before each request."""
    srv = make_server(extra=["--stream-block", "16K", "--stream-delay-ms", "400"])
    api = srv.api
    origin.add("d.img", os.urandom(1 << 20))
    t0 = time.time()
    r = api.post("/luns/0/insert", json={"url": origin.url + "/files/d.img"})
    took = time.time() - t0
    assert r.status_code == 200, r.text
    (pid, argv), = nbdkits(srv.storage)
    assert b"cache-min-block-size=16384" in argv, argv
    assert b"--filter=delay" in argv and b"delay-read=400ms" in argv, argv
    # The check read (512 bytes) went to the server as one 16 KiB block,
    # after the delay (Debian 12's curl plugin asks for one byte more than
    # it reads: 0-16384).
    ranges = [h.get("Range") for p, h in origin.requests if p == "/files/d.img" and h.get("Range")]
    assert ranges[-1] in ("bytes=0-16383", "bytes=0-16384"), ranges
    assert took >= 0.4, took
    assert api.post("/luns/0/eject").status_code == 200
    assert gone(srv.storage)


def test_default_block_and_no_delay(api, origin, server):
    origin.add("e.img", os.urandom(1 << 20))
    assert insert(api, url=origin.url + "/files/e.img").status_code == 200
    (pid, argv), = nbdkits(server.storage)
    assert b"cache-min-block-size=524288" in argv and b"--filter=delay" not in argv, argv
    api.post("/luns/0/eject")
    assert gone(server.storage)


@pytest.mark.parametrize("value,why", [("12K", "power of two"), ("1K", "between"), ("32M", "between")])
def test_a_bad_stream_block_is_refused_at_start(value, why):
    out = subprocess.run([VMEDIAD, "--stream-block", value], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 2 and why in out.stderr, out.stderr
