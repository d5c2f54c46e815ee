"""Files vmediad did not write itself: an image copied into the storage
folder without metadata is listed at once and verified in the background;
a listed image replaced by a symlink or shortened behind vmediad's back is
neither served with the wrong size nor inserted."""
import hashlib
import os
import time

from test_images import blob, wait_for


def listed(api):
    return {i["name"]: i for i in api.get("/images").json()["images"]}


def test_an_image_without_metadata_is_verified_in_the_background(make_server, tmpdir_path):
    storage = os.path.join(tmpdir_path, "found")
    os.makedirs(storage)
    small = blob(3 << 20, 31)
    with open(os.path.join(storage, "small.img"), "wb") as f:
        f.write(small)
    with open(os.path.join(storage, "big.img"), "wb") as f:	# sparse: slow to hash
        f.truncate(6 << 30)
    srv = make_server(storage=storage)
    # It listens before the big file is hashed: listed, but not yet verified.
    imgs = listed(srv.api)
    assert set(imgs) == {"small.img", "big.img"}
    big = imgs["big.img"]
    assert big["verifying"] is True and big["sha256"] is None and big["complete"] is True
    assert big["source"] == "found in storage"
    r = srv.api.post("/luns/0/insert", json={"image": "big.img"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "image_verifying", r.text
    # It can be read meanwhile (without an ETag: that is the digest).
    r = srv.api.get("/images/big.img", headers={"Range": "bytes=0-9"})
    assert r.status_code == 206 and r.content == b"\0" * 10 and "ETag" not in r.headers
    # The small one is verified, with the right digest.
    assert wait_for(lambda: "verifying" not in listed(srv.api)["small.img"], 30)
    assert listed(srv.api)["small.img"]["sha256"] == hashlib.sha256(small).hexdigest()
    # SIGTERM is honoured during the scan: a clean, prompt stop.
    assert "verifying" in listed(srv.api)["big.img"]
    t0 = time.time()
    assert srv.stop() == 0
    assert time.time() - t0 < 5
    # The digest of small.img was kept: it is not hashed again.
    srv.start()
    assert "verifying" not in listed(srv.api)["small.img"]
    assert listed(srv.api)["big.img"]["verifying"] is True


def test_a_symlink_in_place_of_a_listed_image_is_refused(make_server):
    srv = make_server()
    assert srv.api.put("/images/a.img", data=blob(70000)).status_code == 201
    path = os.path.join(srv.storage, "a.img")
    os.unlink(path)
    os.symlink("/etc/passwd", path)
    r = srv.api.get("/images/a.img")
    assert r.status_code == 409 and r.json()["error"]["code"] == "image_changed"
    assert b"root:" not in r.content
    r = srv.api.post("/luns/0/insert", json={"image": "a.img"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "image_changed"
    assert srv.api.get("/luns/0").json()["state"] == "empty"
    assert listed(srv.api)["a.img"]["attached_to"] == []
    # A restart lists only regular files.
    srv.restart()
    assert "a.img" not in listed(srv.api)


def test_a_shortened_image_is_not_served_with_its_old_size(make_server):
    srv = make_server()
    assert srv.api.put("/images/s.img", data=blob(1 << 20)).status_code == 201
    with open(os.path.join(srv.storage, "s.img"), "r+b") as f:
        f.truncate(1000)
    r = srv.api.get("/images/s.img", timeout=10)
    assert r.status_code == 409 and r.json()["error"]["code"] == "image_changed"
    r = srv.api.post("/luns/0/insert", json={"image": "s.img"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "image_changed"
    # And the server still answers at once (no thread left spinning on it).
    assert srv.api.get("/status").status_code == 200


def test_uploaded_images_are_private_to_vmediad(make_server):
    srv = make_server()
    assert srv.api.put("/images/p.img", data=b"private").status_code == 201
    assert os.stat(os.path.join(srv.storage, "p.img")).st_mode & 0o077 == 0
    meta = os.path.join(srv.storage, ".meta", "p.img")
    assert os.stat(meta).st_mode & 0o077 == 0
