"""Crash consistency: vmediad is killed with SIGKILL at many random points
during uploads and downloads; after every restart each listed image must be
complete and byte-exact, and no temporary file may be left or shown."""
import hashlib
import os
import random
import signal
import socket
import threading
import time

from origin import Origin
from test_images import blob, wait_for


def _upload_in_background(port, name, data, stop):
    """Sends data as a PUT at a modest pace until done or stopped."""
    def run():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(("PUT /images/%s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n"
                       % (name, len(data))).encode())
            for i in range(0, len(data), 64 << 10):
                if stop.is_set():
                    break
                s.sendall(data[i:i + (64 << 10)])
                time.sleep(0.002)
            s.recv(4096)
            s.close()
        except OSError:
            pass
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _check_consistent(server, expected):
    # Jobs first: a job seen active may have finished by the time the images
    # are listed (then it is complete), never the other way round.
    active = {j["name"] for j in server.api.get("/downloads").json()["downloads"]
              if j["state"] in ("queued", "running")}
    images = server.api.get("/images").json()["images"]
    for img in images:
        if not img["complete"]:
            # Only a download that resumed after the restart may be in progress.
            assert img["name"] in active, img
            assert img["sha256"] is None
            continue
        data = expected[img["name"]]
        assert img["size"] == len(data), img
        assert img["sha256"] == hashlib.sha256(data).hexdigest(), img
        got = server.api.get("/images/" + img["name"]).content
        assert got == data, img["name"]
    assert os.listdir(os.path.join(server.storage, ".tmp")) == []
    return {i["name"] for i in images if i["complete"]}


def test_sigkill_at_50_random_points_never_leaves_a_broken_image(make_server):
    rnd = random.Random(20261125)
    origin = Origin()
    server = make_server(["--download-retries", "50"])
    expected = {}
    points = 0
    try:
        for round_no in range(25):
            stop = threading.Event()
            threads = []
            # Two uploads and a download at once, then a kill at a random moment.
            for k in range(2):
                name = "u%d-%d.img" % (round_no, k)
                data = blob(rnd.randint(200_000, 3_000_000), seed=round_no * 10 + k)
                expected[name] = data
                threads.append(_upload_in_background(server.port, name, data, stop))
            dname = "d%d.iso" % round_no
            ddata = blob(rnd.randint(300_000, 2_000_000), seed=1000 + round_no)
            origin.add(dname, ddata)
            expected[dname] = ddata
            server.api.post("/downloads", json={"url": origin.url + "/slow/%s?bps=2000000" % dname,
                                                "name": dname})
            time.sleep(rnd.uniform(0.0, 0.6))
            server.stop(signal.SIGKILL)
            points += 1
            stop.set()
            for t in threads:
                t.join(5)
            server.start(server.port)
            _check_consistent(server, expected)
            # A second kill while the resumed downloads run after the restart.
            time.sleep(rnd.uniform(0.0, 0.3))
            server.stop(signal.SIGKILL)
            points += 1
            server.start(server.port)
            _check_consistent(server, expected)
        assert points >= 50
        # Let the downloads finish: every one ends complete and byte-exact.
        assert wait_for(lambda: all(j["state"] in ("done", "failed")
                                    for j in server.api.get("/downloads").json()["downloads"]),
                        timeout=60)
        names = _check_consistent(server, expected)
        for round_no in range(25):
            assert "d%d.iso" % round_no in names
    finally:
        origin.stop()
