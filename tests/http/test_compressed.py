"""Compressed images (.xz, .gz, .zst, .bz2), decompressed while they stream:
uploads and downloads by URL, through the real binary and the real
compressors' output."""
import hashlib
import os
import random
import socket
import subprocess
import time

import pytest

from origin import Origin
from test_images import tmp_files, wait_for

TOOLS = {"xz": ["xz", "-c", "-T1"], "gz": ["gzip", "-c"], "zst": ["zstd", "-q", "-c"],
         "bz2": ["bzip2", "-c"]}
FORMAT = {"xz": "xz", "gz": "gzip", "zst": "zstd", "bz2": "bzip2"}


def image_data(n=3 << 20):
    """Half incompressible, half very compressible: both paths of each codec."""
    return random.Random(n).randbytes(n // 2) + b"vmedia " * ((n - n // 2) // 7) + b"!" * ((n - n // 2) % 7)


def compress(ext, data):
    return subprocess.run(TOOLS[ext], input=data, stdout=subprocess.PIPE, check=True).stdout


def sha(b):
    return hashlib.sha256(b).hexdigest()


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.stop()


@pytest.mark.parametrize("ext", sorted(TOOLS))
def test_upload_is_stored_decompressed_under_the_name_without_suffix(api, server, ext):
    data = image_data()
    packed = compress(ext, data)
    r = api.put("/images/disk.img." + ext, data=packed)
    assert r.status_code == 201, r.text
    img = r.json()
    assert img["name"] == "disk.img" and img["size"] == len(data)
    assert img["sha256"] == sha(data)
    assert img["compression"] == FORMAT[ext]
    assert img["received_size"] == len(packed) and img["received_sha256"] == sha(packed)
    assert api.get("/images/disk.img").content == data
    assert [i["name"] for i in api.get("/images").json()["images"]] == ["disk.img"]
    assert tmp_files(server) == []


def test_both_digests_survive_a_restart(server):
    data = image_data(1 << 20)
    packed = compress("xz", data)
    assert server.api.put("/images/r.img.xz", data=packed).status_code == 201
    server.restart()
    img = server.api.get("/images").json()["images"][0]
    assert (img["sha256"], img["received_sha256"], img["compression"]) == \
        (sha(data), sha(packed), "xz")
    assert "hashing" not in server.log().split("listening")[-1]


def test_decompress_0_keeps_the_file_as_it_came(api):
    packed = compress("xz", image_data(1 << 20))
    r = api.put("/images/disk.img.xz?decompress=0", data=packed)
    assert r.status_code == 201
    img = r.json()
    assert img["name"] == "disk.img.xz" and img["sha256"] == sha(packed)
    assert "compression" not in img
    assert api.get("/images/disk.img.xz").content == packed


def test_sha256_is_checked_against_what_arrived(api, server):
    data = image_data(1 << 20)
    packed = compress("zst", data)
    r = api.put("/images/a.img.zst?sha256=" + sha(packed), data=packed)
    assert r.status_code == 201 and r.json()["sha256"] == sha(data)
    r = api.put("/images/b.img.zst?sha256=" + sha(data), data=packed)
    assert r.status_code == 422 and r.json()["error"]["code"] == "checksum_mismatch"
    assert [i["name"] for i in api.get("/images").json()["images"]] == ["a.img"]
    assert tmp_files(server) == []


@pytest.mark.parametrize("ext", sorted(TOOLS))
def test_truncated_stream_is_422_and_leaves_nothing(api, server, ext):
    packed = compress(ext, image_data())
    r = api.put("/images/cut.img." + ext, data=packed[:len(packed) * 2 // 3])
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "bad_compressed_data" and "truncated" in err["message"]
    assert api.get("/images").json()["images"] == []
    assert tmp_files(server) == []


@pytest.mark.parametrize("ext", sorted(TOOLS))
def test_corrupt_stream_is_422_and_leaves_nothing(api, server, ext):
    packed = bytearray(compress(ext, image_data()))
    # Inside the incompressible half: a stored block for gzip, whose damage
    # only the member's CRC-32 reveals.
    mid = len(packed) // 4
    packed[mid:mid + 16] = bytes(b ^ 0x5A for b in packed[mid:mid + 16])
    r = api.put("/images/bad.img." + ext, data=bytes(packed))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "bad_compressed_data"
    assert api.get("/images").json()["images"] == []
    assert tmp_files(server) == []


def test_a_file_that_is_not_what_its_suffix_says_is_422(api):
    r = api.put("/images/plain.img.xz", data=image_data(1 << 20))
    assert r.status_code == 422
    assert "not xz" in r.json()["error"]["message"]
    assert api.get("/images").json()["images"] == []


def test_chunked_upload_of_a_compressed_image(api):
    data = image_data()
    packed = compress("gz", data)
    r = api.put("/images/c.img.gz",
                data=(packed[i:i + 65536] for i in range(0, len(packed), 65536)))
    assert r.status_code == 201 and r.json()["sha256"] == sha(data)


def test_progress_counts_received_bytes(server, api):
    packed = compress("xz", os.urandom(4 << 20))
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(("PUT /images/p.img.xz HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n"
               % len(packed)).encode())
    s.sendall(packed[:1 << 20])
    assert wait_for(lambda: [i.get("size") for i in api.get("/images").json()["images"]] ==
                    [1 << 20])
    img = api.get("/images").json()["images"][0]
    assert img["name"] == "p.img" and img["expected_size"] == len(packed)
    s.sendall(packed[1 << 20:])
    s.settimeout(10)
    assert b" 201 " in s.recv(4096).split(b"\r\n")[0] + b" "
    s.close()


def test_decompressed_size_is_held_to_the_image_limit(make_server):
    server = make_server(extra=["--max-image-size", str(2 << 20)])
    packed = compress("zst", b"\0" * (16 << 20))	# a small file that grows
    r = server.api.put("/images/bomb.img.zst", data=packed)
    assert r.status_code == 413
    assert server.api.get("/images").json()["images"] == []
    assert tmp_files(server) == []


def test_download_of_a_compressed_url_is_stored_decompressed(api, origin):
    data = image_data()
    packed = compress("xz", data)
    origin.add("pi.img.xz", packed)
    j = api.post("/downloads", json={"url": origin.url + "/files/pi.img.xz",
                                     "sha256": sha(packed)}).json()
    j = _wait_job(api, j["id"])
    assert j["state"] == "done", j
    assert j["name"] == "pi.img" and j["compression"] == "xz"
    assert j["bytes_done"] == len(packed)
    img = api.get("/images").json()["images"][0]
    assert img["name"] == "pi.img" and img["sha256"] == sha(data)
    assert img["received_sha256"] == sha(packed)
    assert api.get("/images/pi.img").content == data


def test_download_with_a_name_without_suffix_still_decompresses(api, origin):
    data = image_data(1 << 20)
    origin.add("x.img.bz2", compress("bz2", data))
    j = api.post("/downloads", json={"url": origin.url + "/files/x.img.bz2",
                                     "name": "mine.img"}).json()
    j = _wait_job(api, j["id"])
    assert j["state"] == "done" and j["name"] == "mine.img"
    assert api.get("/images/mine.img").content == data


def test_download_with_decompress_false_keeps_the_file(api, origin):
    packed = compress("gz", image_data(1 << 20))
    origin.add("k.img.gz", packed)
    j = api.post("/downloads", json={"url": origin.url + "/files/k.img.gz",
                                     "decompress": False}).json()
    j = _wait_job(api, j["id"])
    assert j["state"] == "done" and j["name"] == "k.img.gz" and j["compression"] is None
    assert api.get("/images/k.img.gz").content == packed


def test_truncated_download_fails_and_leaves_nothing(api, origin, server):
    packed = compress("gz", image_data())
    origin.add("t.img.gz", packed[:len(packed) // 2])
    j = _wait_job(api, api.post("/downloads", json={"url": origin.url + "/files/t.img.gz"})
                  .json()["id"])
    assert j["state"] == "failed" and "truncated" in j["error"]
    assert api.get("/images").json()["images"] == []
    assert tmp_files(server) == []
    assert os.listdir(os.path.join(server.storage, ".partial")) == ["dl-%d.json" % j["id"]]


def _wait_job(api, job_id, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = api.get("/downloads/%d" % job_id).json()
        if j["state"] in ("done", "failed", "cancelled"):
            return j
        time.sleep(0.05)
    return j
