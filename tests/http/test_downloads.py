"""Downloads from a URL, against a real HTTP server on loopback."""
import json
import os
import signal
import socket
import time

import pytest

from origin import Origin
from sse import SSE
from test_images import blob, small_fs, wait_for  # noqa: F401 (fixture)


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.stop()


def add(api, **body):
    return api.post("/downloads", json=body)


def wait_job(api, job_id, states=("done", "failed", "cancelled"), timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = api.get("/downloads/%d" % job_id).json()
        if j["state"] in states:
            return j
        time.sleep(0.05)
    raise AssertionError("job %d still %s" % (job_id, j))


def partials(server):
    """What .partial holds besides the job files of finished jobs (which
    stay, with their final state, until the job is removed)."""
    d = os.path.join(server.storage, ".partial")
    out = []
    for f in sorted(os.listdir(d)):
        if f.startswith("dl-") and f.endswith(".json"):
            with open(os.path.join(d, f)) as fh:
                if json.load(fh).get("state") in ("done", "failed", "cancelled"):
                    continue
        out.append(f)
    return out


def test_download_is_byte_exact_with_the_url_name(api, origin, server):
    data = blob(3 << 20)
    sha = origin.add("debian.iso", data)
    r = add(api, url=origin.url + "/files/debian.iso")
    assert r.status_code == 202
    job = r.json()
    assert job["state"] in ("queued", "running")
    job = wait_job(api, job["id"])
    assert job["state"] == "done", job
    assert job["name"] == "debian.iso" and job["bytes_done"] == len(data)
    img = api.get("/images").json()["images"][0]
    assert img["sha256"] == sha and img["source"] == origin.url + "/files/debian.iso"
    assert api.get("/images/debian.iso").content == data
    assert partials(server) == []


def test_name_from_request_then_content_disposition(api, origin):
    origin.add("x", b"abc")
    j = wait_job(api, add(api, url=origin.url + "/cd/x?as=from-header.img", name="mine.img").json()["id"])
    assert j["name"] == "mine.img"
    j = wait_job(api, add(api, url=origin.url + "/cd/x?as=from-header.img").json()["id"])
    assert j["name"] == "from-header.img"
    j = wait_job(api, add(api, url=origin.url + "/cd/x?as=..%2Fevil%20name.img").json()["id"])
    assert j["state"] == "done" and j["name"] == "evil_name.img"


def test_checksum_match_and_mismatch(api, origin, server):
    sha = origin.add("a.img", b"hello")
    j = wait_job(api, add(api, url=origin.url + "/files/a.img", sha256=sha).json()["id"])
    assert j["state"] == "done"
    origin.add("b.img", b"other")
    j = wait_job(api, add(api, url=origin.url + "/files/b.img", sha256=sha).json()["id"])
    assert j["state"] == "failed" and "SHA-256" in j["error"]
    assert [i["name"] for i in api.get("/images").json()["images"]] == ["a.img"]
    assert partials(server) == []


def test_redirect_is_followed_but_not_to_file_urls(api, origin):
    origin.add("r.img", b"redirected")
    j = wait_job(api, add(api, url=origin.url + "/redirect?to=/files/r.img").json()["id"])
    assert j["state"] == "done" and j["name"] == "r.img"
    j = wait_job(api, add(api, url=origin.url + "/redirect?to=file:///etc/passwd", name="p.img").json()["id"])
    assert j["state"] == "failed" and "only http and https" in j["error"]
    assert "p.img" not in [i["name"] for i in api.get("/images").json()["images"]]


def test_redirect_loop_is_capped(api, origin):
    j = wait_job(api, add(api, url=origin.url + "/loop", name="l.img").json()["id"])
    assert j["state"] == "failed" and "redirects" in j["error"]
    assert len([r for r in origin.requests if r[0] == "/loop"]) <= 11


def test_http_404_fails_with_the_status(api, origin):
    j = wait_job(api, add(api, url=origin.url + "/files/nothing.iso").json()["id"])
    assert j["state"] == "failed" and "404" in j["error"]


def test_bad_requests(api):
    for body, code in (({"url": "file:///etc/passwd"}, "bad_url"),
                       ({"url": "ftp://x/y.iso"}, "bad_url"),
                       ({"url": "not a url"}, "bad_url"),
                       ({"url": "http://x/y.iso", "name": "../y"}, "bad_name"),
                       ({"url": "http://x/y.iso", "sha256": "abc"}, "bad_checksum"),
                       ({"uri": "http://x/"}, "bad_json")):
        r = add(api, **body)
        assert r.status_code == 400, body
        assert r.json()["error"]["code"] == code, (body, r.json())
    assert api.get("/downloads/99").status_code == 404
    assert api.get("/downloads/abc").status_code == 400


def test_name_clash_is_409(api, origin):
    api.put("/images/taken.img", data=b"x")
    r = add(api, url=origin.url + "/files/x", name="taken.img")
    assert r.status_code == 409 and r.json()["error"]["code"] == "image_exists"


def test_dropped_connection_resumes_byte_exact(api, origin):
    data = blob(2 << 20, 5)
    sha = origin.add("d.iso", data)
    j = wait_job(api, add(api, url=origin.url + "/drop/d.iso?after=700000", sha256=sha).json()["id"])
    assert j["state"] == "done", j
    assert j["attempts"] == 2
    second = [h for p, h in origin.requests if p.startswith("/drop/")][1]
    assert second.get("Range") == "bytes=700000-"
    assert api.get("/images/d.iso").content == data


def test_server_without_range_support_starts_over(api, origin):
    data = blob(1 << 20, 6)
    sha = origin.add("n.img", data)
    j = wait_job(api, add(api, url=origin.url + "/drop/n.img?after=300000&range=0",
                          sha256=sha).json()["id"])
    assert j["state"] == "done", j
    assert j["attempts"] == 2
    second = [h for p, h in origin.requests if p.startswith("/drop/n.img")][1]
    assert second.get("Range") == "bytes=300000-"	# asked, and got the whole file
    assert api.get("/images/n.img").content == data


def test_cancel_removes_the_partial_data(api, origin, server):
    origin.add("slow.iso", blob(4 << 20))
    job = add(api, url=origin.url + "/slow/slow.iso?bps=200000").json()
    assert wait_for(lambda: api.get("/downloads/%d" % job["id"]).json()["bytes_done"] > 0, 10)
    r = api.delete("/downloads/%d" % job["id"])
    assert r.status_code == 200
    j = wait_job(api, job["id"])
    assert j["state"] == "cancelled"
    assert wait_for(lambda: partials(server) == [])
    assert api.get("/images").json()["images"] == []
    # A finished job can then be forgotten.
    assert api.delete("/downloads/%d" % job["id"]).status_code == 200
    assert api.get("/downloads/%d" % job["id"]).status_code == 404


def test_size_cap_without_content_length(make_server, origin):
    api = make_server(["--max-image-size", "100K"]).api
    origin.add("big.img", blob(300000))
    j = wait_job(api, add(api, url=origin.url + "/chunked/big.img").json()["id"])
    assert j["state"] == "failed" and "102400 bytes" in j["error"], j
    j = wait_job(api, add(api, url=origin.url + "/files/big.img", name="b2.img").json()["id"])
    assert j["state"] == "failed"
    assert api.get("/images").json()["images"] == []


def test_disk_full_fails_cleanly(make_server, origin, small_fs):
    srv = make_server(["--reserve", "0"], storage=os.path.join(small_fs, "img"))
    origin.add("huge.img", blob(6 << 20))
    j = wait_job(srv.api, add(srv.api, url=origin.url + "/files/huge.img").json()["id"])
    assert j["state"] == "failed" and "free" in j["error"], j
    origin.add("chunky.img", blob(6 << 20, 2))
    j = wait_job(srv.api, add(srv.api, url=origin.url + "/chunked/chunky.img").json()["id"])
    assert j["state"] == "failed" and "full" in j["error"], j
    assert partials(srv) == []


def test_credentials_are_never_shown_or_logged(api, origin, server):
    origin.add("c.img", b"secret stuff")
    url = "http://alice:s3cr3t@127.0.0.1:%d/files/c.img" % origin.port
    job = add(api, url=url).json()
    assert "s3cr3t" not in job["url"] and "***@" in job["url"]
    j = wait_job(api, job["id"])
    assert j["state"] == "done"
    assert "s3cr3t" not in api.get("/images").text
    assert "s3cr3t" not in api.get("/downloads").text
    assert "s3cr3t" not in server.log()
    # The credentials did reach the server.
    auth = [h.get("Authorization") for p, h in origin.requests if p == "/files/c.img"]
    assert auth and auth[0].startswith("Basic ")


def test_restart_mid_download_resumes(server, origin):
    data = blob(3 << 20, 9)
    sha = origin.add("k.iso", data)
    job = server.api.post("/downloads", json={"url": origin.url + "/slow/k.iso?bps=400000",
                                              "sha256": sha}).json()
    # Received bytes go to the disk a chunk at a time (the writer's ring), so
    # wait until some have reached the .part file: that is what a resume
    # can continue from; the rest of what was received is fetched again.
    part = os.path.join(server.storage, ".partial", "dl-%d.part" % job["id"])
    assert wait_for(lambda: os.path.exists(part) and os.path.getsize(part) > 0, 10)
    server.stop(signal.SIGKILL)
    assert os.path.getsize(part) > 0
    server.start(server.port)
    # The slow route stays slow; switch it to the fast one by restart? No: the
    # job keeps its URL, so wait for it to finish at its own pace.
    j = wait_job(server.api, job["id"], timeout=30)
    assert j["state"] == "done", j
    ranged = [h.get("Range") for p, h in origin.requests if p.startswith("/slow/k.iso")]
    assert len(ranged) >= 2 and ranged[-1] and ranged[-1].startswith("bytes=")
    assert server.api.get("/images/k.iso").content == data
    assert partials(server) == []


def test_a_resume_that_finds_the_whole_file_kept_starts_over(server, origin):
    """The last run received every byte and was killed (or lost power)
    before storing it: the resume asks from the end of the file, the server
    answers 416 (nginx does; the power-cut test met it), and the job starts
    over instead of failing."""
    data = blob(3 << 20, 31)	# 10 s at this rate: killed mid-way, as the resume tests are
    origin.add("w.iso", data)
    job = server.api.post("/downloads", json={"url": origin.url + "/slow/w.iso?bps=300000"}).json()
    part = os.path.join(server.storage, ".partial", "dl-%d.part" % job["id"])
    assert wait_for(lambda: os.path.exists(part) and os.path.getsize(part) > 0, 10)
    server.stop(signal.SIGKILL)
    with open(part, "r+b") as f:	# the rest reached the disk too
        f.seek(os.path.getsize(part))
        f.write(data[f.tell():])
    server.start(server.port)
    j = wait_job(server.api, job["id"], timeout=60)	# all of it again, at 300 kB/s
    assert j["state"] == "done", j
    assert server.api.get("/images/w.iso").content == data
    ranged = [h.get("Range") for p, h in origin.requests if p.startswith("/slow/w.iso")]
    assert "bytes=%d-" % len(data) in ranged, ranged	# the 416 did happen
    assert partials(server) == []


def test_sigterm_keeps_the_job_for_the_next_start(server, origin):
    origin.add("t.iso", blob(2 << 20, 4))
    job = server.api.post("/downloads", json={"url": origin.url + "/slow/t.iso?bps=300000"}).json()
    assert wait_for(lambda: server.api.get("/downloads/%d" % job["id"]).json()["bytes_done"] > 0, 10)
    server.restart(signal.SIGTERM)
    assert "suspended" in server.log()
    j = wait_job(server.api, job["id"], timeout=30)
    assert j["state"] == "done"


def test_queue_runs_at_most_n_at_once(make_server, origin):
    api = make_server(["--max-downloads", "1"]).api
    origin.add("q.img", blob(600000))
    a = add(api, url=origin.url + "/slow/q.img?bps=300000", name="a.img").json()
    b = add(api, url=origin.url + "/slow/q.img?bps=300000", name="b.img").json()
    assert wait_for(lambda: api.get("/downloads/%d" % a["id"]).json()["state"] == "running")
    assert api.get("/downloads/%d" % b["id"]).json()["state"] == "queued"
    assert wait_job(api, b["id"])["state"] == "done"
    assert [d["state"] for d in api.get("/downloads").json()["downloads"]] == ["done", "done"]


def test_progress_is_pushed_on_events(api, origin, server):
    origin.add("p.iso", blob(1 << 20))
    sse = SSE(server.port)
    sse.next()
    job = add(api, url=origin.url + "/slow/p.iso?bps=300000").json()
    seen = []
    while True:
        _, d = sse.wait_for(lambda t, d: t == "download" and d["id"] == job["id"], timeout=5)
        seen.append(d)
        if d["state"] == "done":
            break
    running = [d for d in seen if d["state"] == "running" and d["bytes_done"] > 0]
    assert len(running) >= 2
    assert any(d["speed"] > 0 for d in running)
    sse.close()


def test_forgetting_a_finished_job_is_announced(api, origin, server):
    origin.add("f.img", b"forget me")
    job = wait_job(api, add(api, url=origin.url + "/files/f.img").json()["id"])
    sse = SSE(server.port)
    _, state = sse.next()
    assert [d["id"] for d in state["downloads"]] == [job["id"]]
    api.delete("/downloads/%d" % job["id"])
    _, gone = sse.wait_for(lambda t, d: t == "download" and d["state"] == "removed")
    assert gone["id"] == job["id"]
    sse.close()


@pytest.mark.parametrize("n", [246, 247, 250, 251, 255])
def test_the_longest_names_work_end_to_end(server, origin, n):
    """Names of 247-255 bytes, which the name rule allows, failed with 500
    when the metadata file (NAME.json.new) was written."""
    api = server.api
    up, dl = "u" * (n - 4) + ".img", "d" * (n - 4) + ".img"
    data = blob(70000, seed=n)
    r = api.put("/images/" + up, data=data)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == up
    origin.add("src.img", data)
    j = wait_job(api, add(api, url=origin.url + "/files/src.img", name=dl).json()["id"])
    assert j["state"] == "done" and j["name"] == dl, j
    for name in (up, dl):
        assert api.get("/images/" + name).content == data
    server.restart()
    api = server.api
    listed = {i["name"]: i for i in api.get("/images").json()["images"]}
    assert set(listed) == {up, dl}
    assert listed[up]["source"] == "upload"	# its metadata survived, no rehash
    for name in (up, dl):
        assert api.delete("/images/" + name).status_code == 204
    assert os.listdir(os.path.join(server.storage, ".meta")) == []


def test_a_state_write_cut_short_leaves_no_file(make_server, origin, small_fs):
    """ENOSPC while saving a job's state left a 0-byte dl-N.json.new."""
    srv = make_server(["--reserve", "0"], storage=os.path.join(small_fs, "img"))
    origin.add("x.img", b"x" * 1000)
    with open(os.path.join(small_fs, "filler"), "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    r = add(srv.api, url=origin.url + "/files/x.img")
    if r.status_code == 202:
        wait_job(srv.api, r.json()["id"])
    assert [p for p in partials(srv) if p.endswith(".new")] == []
    os.unlink(os.path.join(small_fs, "filler"))


def test_start_up_removes_a_job_file_whose_write_did_not_finish(make_server, tmpdir_path):
    storage = os.path.join(tmpdir_path, "st")
    os.makedirs(os.path.join(storage, ".partial"))
    open(os.path.join(storage, ".partial", "dl-9.json.new"), "w").close()
    srv = make_server(storage=storage)
    assert partials(srv) == []
    assert wait_for(lambda: "dl-9.json.new" in srv.log())


def test_finished_jobs_survive_a_restart_until_removed(server, origin):
    api = server.api
    origin.add("a.img", blob(50000, 3))
    ok = wait_job(api, add(api, url=origin.url + "/files/a.img").json()["id"])
    bad = wait_job(api, add(api, url=origin.url + "/status/404").json()["id"])
    assert ok["state"] == "done" and bad["state"] == "failed"
    server.restart()
    api = server.api
    for before in (ok, bad):
        after = api.get("/downloads/%d" % before["id"]).json()
        for k in ("state", "name", "bytes_done", "total", "error", "url"):
            assert after[k] == before[k], (k, before, after)
    assert [j["id"] for j in api.get("/downloads").json()["downloads"]] == [ok["id"], bad["id"]]
    # New jobs get new ids.
    third = add(api, url=origin.url + "/files/a.img", name="b.img").json()
    assert third["id"] > bad["id"]
    wait_job(api, third["id"])
    # Removed: gone, also after the next restart.
    assert api.delete("/downloads/%d" % ok["id"]).status_code == 200
    server.restart()
    assert server.api.get("/downloads/%d" % ok["id"]).status_code == 404
    assert server.api.get("/downloads/%d" % bad["id"]).json()["state"] == "failed"


def test_a_resumed_job_shows_what_it_has_at_once(server, origin):
    data = blob(3 << 20, 11)
    origin.add("r.iso", data)
    job = server.api.post("/downloads", json={"url": origin.url + "/slow/r.iso?bps=300000"}).json()
    part = os.path.join(server.storage, ".partial", "dl-%d.part" % job["id"])
    assert wait_for(lambda: os.path.exists(part) and os.path.getsize(part) > 0, 10)
    server.stop(signal.SIGKILL)
    have = os.path.getsize(part)
    server.start(server.port)
    j = server.api.get("/downloads/%d" % job["id"]).json()
    assert j["state"] in ("queued", "running")
    assert j["bytes_done"] >= have > 0, (j, have)


@pytest.mark.parametrize("lm", ["0", "1"])
def test_a_resume_from_a_changed_file_starts_over(api, origin, lm):
    """The origin ignores If-Range and answers 206 from a new version of the
    file: appending it stored a mix of both as done (no sha256 given)."""
    old, new = blob(1 << 20, 21), blob(1 << 20, 22)
    origin.add("v.img", old)
    origin.add("v.img.new", new)
    j = wait_job(api, add(api, url=origin.url + "/swap/v.img?after=300000&lm=" + lm).json()["id"],
                 timeout=30)
    assert j["state"] == "done", j
    got = api.get("/images/v.img").content
    assert got == new, "stored %s" % ("the old file" if got == old else "a mix of both")
    ranged = [h for p, h in origin.requests if p.startswith("/swap/v.img")]
    assert any("Range" in h for h in ranged[1:]), "it never tried to resume"
    sent = [h.get("If-Range") for h in ranged[1:] if "Range" in h]
    assert sent and all(sent), "If-Range was not sent with the resume"


def test_a_download_waits_while_uploads_hold_every_slot(make_server, origin):
    """With --max-uploads 1 and an upload in progress, a download finds no
    slot: it waits (not an attempt, not failed) and runs once the upload ends."""
    srv = make_server(["--max-uploads", "1", "--download-retries", "1"])
    api = srv.api
    data = blob(1 << 20)
    origin.add("later.img", data)
    held = socket.create_connection(("127.0.0.1", srv.port))
    held.sendall(b"PUT /images/held.img HTTP/1.1\r\nHost: localhost\r\n"
                 b"Content-Length: 8192\r\n\r\n" + b"h" * 4096)
    wait_for(lambda: any(i["name"] == "held.img" for i in api.get("/images").json()["images"]))
    job = add(api, url=origin.url + "/files/later.img").json()
    time.sleep(4)	# more than one retry with its delay would take
    j = api.get("/downloads/%d" % job["id"]).json()
    assert j["state"] in ("queued", "running"), j
    assert "uploads are running" in j["error"] and j["attempts"] <= 1, j
    held.sendall(b"h" * 4096)
    assert held.recv(4096).startswith(b"HTTP/1.1 201"), "the held upload was not stored"
    held.close()
    j = wait_job(api, job["id"], timeout=30)
    assert j["state"] == "done", j
    assert api.get("/images/later.img").content == data
