"""The image library over real HTTP: upload, list, download, delete."""
import hashlib
import http.client
import os
import signal
import socket
import subprocess
import time

import jsonschema
import pytest

from conftest import SPEC, VMEDIAD, check_response
from sse import SSE


def blob(n, seed=1):
    out = bytearray()
    h = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        h = hashlib.sha256(h).digest()
        out += h * 64
    return bytes(out[:n])


def raw(port, method, path, headers=None, body=None):
    """http.client sends the path exactly as given (requests would normalise it)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def wait_for(cond, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def tmp_files(server):
    return os.listdir(os.path.join(server.storage, ".tmp"))


def test_upload_then_download_is_byte_exact(api):
    data = blob(3 * 1024 * 1024 + 17)
    r = api.put("/images/disk.img", data=data)
    assert r.status_code == 201
    img = r.json()
    assert img["name"] == "disk.img"
    assert img["size"] == len(data)
    assert img["sha256"] == hashlib.sha256(data).hexdigest()
    assert img["complete"] is True
    assert img["attached_to"] == []
    r = api.get("/images/disk.img")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["ETag"] == '"%s"' % img["sha256"]
    assert r.headers["Accept-Ranges"] == "bytes"


def test_list_shows_every_image_sorted(api):
    api.put("/images/b.iso", data=b"bb")
    api.put("/images/a.img", data=b"a")
    images = api.get("/images").json()["images"]
    assert [i["name"] for i in images] == ["a.img", "b.iso"]
    assert images[1]["size"] == 2
    assert images[1]["sha256"] == hashlib.sha256(b"bb").hexdigest()


def test_curl_upload_works_as_documented(server):
    path = os.path.join(server.storage, "..", "src.iso")
    data = blob(200000, 7)
    with open(path, "wb") as f:
        f.write(data)
    out = subprocess.run(["curl", "-sS", "-f", "-T", path, server.url + "/images/src.iso"],
                         capture_output=True, check=True)
    assert b'"complete":true' in out.stdout
    assert server.api.get("/images/src.iso").content == data


def test_range_requests(api):
    data = blob(10000)
    api.put("/images/r.img", data=data)
    r = api.get("/images/r.img", headers={"Range": "bytes=100-199"})
    assert r.status_code == 206
    assert r.content == data[100:200]
    assert r.headers["Content-Range"] == "bytes 100-199/10000"
    r = api.get("/images/r.img", headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == data[-10:]
    r = api.get("/images/r.img", headers={"Range": "bytes=9990-"})
    assert r.status_code == 206 and r.content == data[9990:]
    r = api.get("/images/r.img", headers={"Range": "bytes=10000-"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == "bytes */10000"
    assert r.json()["error"]["code"] == "range_not_satisfiable"
    r = api.get("/images/r.img", headers={"Range": "bytes=0-1,5-6"})
    assert r.status_code == 200 and r.content == data


def test_head_gives_headers_without_body(api):
    api.put("/images/h.img", data=b"12345")
    r = api.head("/images/h.img")
    assert r.status_code == 200
    assert r.headers["Content-Length"] == "5"
    assert r.content == b""


def test_checksum_header_match_stores(api):
    data = b"hello world"
    r = api.put("/images/c.img", data=data,
                headers={"X-Checksum-SHA256": hashlib.sha256(data).hexdigest().upper()})
    assert r.status_code == 201


def test_checksum_mismatch_is_422_and_leaves_nothing(server, api):
    r = api.put("/images/c.img?sha256=" + "0" * 64, data=b"some data")
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "checksum_mismatch"
    assert api.get("/images").json()["images"] == []
    assert tmp_files(server) == []
    assert not os.path.exists(os.path.join(server.storage, "c.img"))


def test_malformed_checksum_is_400(api):
    r = api.put("/images/c.img?sha256=xyz", data=b"x")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "bad_checksum"


def test_existing_name_is_409_unless_overwrite(api):
    api.put("/images/o.img", data=b"one")
    r = api.put("/images/o.img", data=b"two")
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "image_exists"
    assert "overwrite=1" in r.json()["error"]["message"]
    r = api.put("/images/o.img?overwrite=1", data=b"three")
    assert r.status_code == 201
    assert api.get("/images/o.img").content == b"three"


def test_delete(api):
    api.put("/images/d.img", data=b"x")
    r = api.delete("/images/d.img")
    assert r.status_code == 204
    assert api.get("/images").json()["images"] == []
    r = api.delete("/images/d.img")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path,why", [
    ("/images/", "empty"),
    ("/images/..", "start with '.'"),
    ("/images/.hidden", "start with '.'"),
    ("/images/a/b", "'/'"),
    ("/images/a%2Fb", "'/'"),
    ("/images/..%2F..%2Fetc%2Fpasswd", "start with '.'"),
    ("/images/a%00b", "'%'"),
    ("/images/caf%C3%A9", "0xc3"),
    ("/images/bad%FFutf8", "0xff"),
    ("/images/a%20b", "' '"),
    ("/images/" + "x" * 256, "at most 255"),
])
def test_every_bad_name_class_is_400(server, path, why):
    for method in ("PUT", "GET", "DELETE"):
        r, data = raw(server.port, method, path, body=b"data" if method == "PUT" else None)
        assert r.status == 400, (method, path, r.status, data)
        import json
        err = json.loads(data)["error"]
        assert err["code"] == "bad_name"
        assert why in err["message"], err
    # Nothing was created: only vmediad's own bookkeeping is there.
    assert sorted(os.listdir(server.storage)) == [".links", ".lock", ".meta", ".partial", ".streams", ".tmp"]


def test_unknown_path_is_json_404(api):
    r = api.get("/nope", check=False)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_wrong_method_is_405_with_allow(api):
    r = api.delete("/images")
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, HEAD, POST"
    assert r.json()["error"]["code"] == "method_not_allowed"
    r = api.request("PATCH", "/images/x.img")
    assert r.status_code == 405


def test_too_large_for_the_configured_limit_is_413(make_server):
    srv = make_server(["--max-image-size", "1K"])
    r = srv.api.put("/images/big.img", data=blob(2000))
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"
    assert tmp_files(srv) == []


def _direct_io_works(directory):
    probe = os.path.join(directory, ".direct-probe")
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_DIRECT, 0o600))
        return True
    except OSError:
        return False
    finally:
        if os.path.exists(probe):
            os.unlink(probe)


@pytest.mark.parametrize("buffered", [False, True])
def test_images_are_written_around_the_page_cache_unless_buffered_io(make_server, buffered):
    import re
    srv = make_server(["--buffered-io"] if buffered else [])
    data = blob((3 << 20) + 5, 7)
    assert srv.api.put("/images/d.img", data=data).status_code == 201
    assert srv.api.get("/images/d.img").content == data
    m = re.search(r"d\.img: stored, (\d+) bytes \((\d+) with O_DIRECT\)", srv.log())
    assert m, srv.log()
    size, direct = int(m.group(1)), int(m.group(2))
    assert size == len(data)
    # O_DIRECT takes whole 4 KiB blocks; the odd tail goes through the cache.
    want = 0 if buffered or not _direct_io_works(srv.storage) else len(data) & ~4095
    assert direct == want


def mounted_tmpfs(tmpdir_path, name, size):
    """A tmpfs of size (e.g. "4m") under tmpdir_path, unmounted after the
    test (a generator for a fixture); needs root."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    mnt = os.path.join(tmpdir_path, name)
    os.mkdir(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", mnt], check=True)
    yield mnt
    subprocess.run(["umount", "-l", mnt], check=False)


@pytest.fixture
def small_fs(tmpdir_path):
    yield from mounted_tmpfs(tmpdir_path, "small", "4m")


def test_no_space_is_507_before_the_body_is_read(make_server, small_fs):
    srv = make_server(["--reserve", "0"], storage=os.path.join(small_fs, "img"))
    # Announced too large: refused at once, from Content-Length alone.
    r = srv.api.put("/images/big.img", data=blob(6 << 20))
    assert r.status_code == 507
    assert r.json()["error"]["code"] == "insufficient_storage"
    assert tmp_files(srv) == []
    # What fits is still accepted.
    assert srv.api.put("/images/ok.img", data=blob(1 << 20)).status_code == 201


def test_disk_full_mid_stream_without_length_is_507(make_server, small_fs):
    srv = make_server(["--reserve", "0"], storage=os.path.join(small_fs, "img"))

    def chunks():
        for _ in range(12):
            yield blob(512 * 1024)
    r = srv.api.put("/images/chunked.img", data=chunks())
    assert r.status_code == 507
    assert tmp_files(srv) == []
    assert srv.api.get("/images").json()["images"] == []


def _start_upload(port, name, total, send):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(("PUT /images/%s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n"
               % (name, total)).encode())
    s.sendall(blob(send))
    return s


def test_dropped_connection_mid_upload_leaves_nothing(server, api):
    s = _start_upload(server.port, "drop.img", 10 << 20, 1 << 20)
    assert wait_for(lambda: any(not i["complete"] for i in api.get("/images").json()["images"]))
    s.close()
    assert wait_for(lambda: tmp_files(server) == [])
    assert api.get("/images").json()["images"] == []
    assert wait_for(lambda: "upload abandoned" in server.log())


def test_upload_in_progress_is_listed_incomplete_and_its_name_is_busy(server, api):
    s = _start_upload(server.port, "slow.img", 4 << 20, 1 << 20)
    assert wait_for(lambda: api.get("/images").json()["images"] != [])
    img = api.get("/images").json()["images"][0]
    assert img["complete"] is False and img["sha256"] is None
    assert img["expected_size"] == 4 << 20
    r = api.put("/images/slow.img", data=b"x")
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "upload_in_progress"
    r = api.get("/images/slow.img")
    assert r.status_code == 404
    s.close()


def test_kill_9_during_upload_then_restart_leaves_no_phantom(server, api):
    api.put("/images/keep.img", data=b"keep me")
    s = _start_upload(server.port, "phantom.img", 8 << 20, 2 << 20)
    assert wait_for(lambda: len(tmp_files(server)) == 1)
    server.stop(signal.SIGKILL)
    s.close()
    server.start(server.port)
    names = [i["name"] for i in server.api.get("/images").json()["images"]]
    assert names == ["keep.img"]
    assert tmp_files(server) == []
    assert not os.path.exists(os.path.join(server.storage, "phantom.img"))
    assert "leftover of an interrupted upload" in server.log()
    assert server.api.get("/images/keep.img").content == b"keep me"


def test_restart_knows_images_without_rehashing(server):
    data = blob(100000)
    server.api.put("/images/r.img", data=data)
    server.restart()
    img = server.api.get("/images").json()["images"][0]
    assert img["sha256"] == hashlib.sha256(data).hexdigest()
    assert "hashing" not in server.log()


def test_image_copied_in_by_hand_is_hashed_at_start(server):
    data = blob(5000, 3)
    server.stop()
    with open(os.path.join(server.storage, "manual.iso"), "wb") as f:
        f.write(data)
    server.start()
    img = server.api.get("/images").json()["images"][0]
    assert img["name"] == "manual.iso"
    assert img["sha256"] == hashlib.sha256(data).hexdigest()


def test_status_reports_storage(api, server):
    st = api.get("/status").json()
    assert st["storage"]["dir"] == os.path.realpath(server.storage)
    assert 0 < st["storage"]["free_bytes"] <= st["storage"]["total_bytes"]
    assert st["version"]


def test_sigterm_stops_cleanly(server):
    assert server.stop(signal.SIGTERM) == 0
    assert "stopped" in server.log()


def test_help_and_version():
    out = subprocess.run([VMEDIAD, "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for opt in ("--listen", "--storage", "--config", "--help", "--version"):
        assert opt in out.stdout
    out = subprocess.run([VMEDIAD, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("vmediad ")


def test_bad_option_or_config_exits_2_with_a_message(tmpdir_path):
    out = subprocess.run([VMEDIAD, "--bogus"], capture_output=True, text=True)
    assert out.returncode == 2 and "--bogus" in out.stderr
    cfg = os.path.join(tmpdir_path, "bad.json")
    with open(cfg, "w") as f:
        f.write('{"luns": "many"}')
    out = subprocess.run([VMEDIAD, "--config", cfg], capture_output=True, text=True)
    assert out.returncode == 2 and "luns" in out.stderr


def test_config_file_is_used(make_server, tmpdir_path):
    cfg = os.path.join(tmpdir_path, "c.json")
    with open(cfg, "w") as f:
        f.write('{"max-image-size": "10"}')
    srv = make_server(["--config", cfg])
    assert srv.api.put("/images/x.img", data=b"x" * 11).status_code == 413


def test_unused_port_spec_is_refused():
    out = subprocess.run([VMEDIAD, "--listen", "nonsense"], capture_output=True, text=True)
    assert out.returncode != 0 and "HOST:PORT" in out.stderr


def test_spec_check_catches_a_wrong_status():
    """The checker itself: an undocumented status must fail."""
    class Fake:
        status_code = 418
        headers = {"Content-Type": "application/json"}

        def json(self):
            return {}
    with pytest.raises(AssertionError):
        check_response("GET", "/status", Fake())


def test_sigterm_during_an_upload_removes_its_temporary_file(server, api):
    s = _start_upload(server.port, "half.img", 8 << 20, 1 << 20)
    assert wait_for(lambda: len(tmp_files(server)) == 1)
    assert server.stop(signal.SIGTERM) == 0
    s.close()
    assert tmp_files(server) == []
    assert "upload abandoned" in server.log()


def _image_event(sse, etype, name):
    """The next event etype about name, checked against the spec's Image."""
    _, data = sse.wait_for(lambda t, d: t == etype and d.get("name") == name)
    jsonschema.Draft202012Validator(SPEC["components"]["schemas"]["Image"]).validate(data)
    return data


def test_an_aborted_overwrite_says_so_in_its_events_and_the_image_stays(server, api):
    api.put("/images/a.img", data=b"one")
    sha_one = hashlib.sha256(b"one").hexdigest()
    sse = SSE(server.port)
    sse.next()
    s = _start_upload(server.port, "a.img?overwrite=1", 1 << 20, 1000)
    progress = _image_event(sse, "upload_progress", "a.img")
    assert progress["complete"] is False and progress["overwrite"] is True
    listed = api.get("/images").json()["images"]
    assert [(i["name"], i["complete"], i["sha256"]) for i in listed] == [("a.img", True, sha_one)]
    s.close()
    aborted = _image_event(sse, "upload_aborted", "a.img")
    assert aborted["overwrite"] is True
    assert api.get("/images/a.img").content == b"one"
    sse.close()


def test_a_new_upload_is_no_overwrite_and_a_completed_overwrite_replaces(server, api):
    api.put("/images/a.img", data=b"one")
    sse = SSE(server.port)
    sse.next()
    s = _start_upload(server.port, "b.img?overwrite=1", 1 << 20, 1000)
    assert _image_event(sse, "upload_progress", "b.img")["overwrite"] is False
    s.close()
    assert _image_event(sse, "upload_aborted", "b.img")["overwrite"] is False
    s = _start_upload(server.port, "a.img?overwrite=1", 3000, 1000)
    assert _image_event(sse, "upload_progress", "a.img")["overwrite"] is True
    s.sendall(blob(2000))
    added = _image_event(sse, "image_added", "a.img")
    assert added["complete"] is True and added["size"] == 3000
    s.settimeout(10)
    assert s.recv(4096).startswith(b"HTTP/1.1 201")
    s.close()
    sse.close()
