"""Named links: a remote image kept in the library by its URL (POST /images
{"name", "url", "link": true}), listed with kind "link", inserted by name
like a stored image (through the real nbdkit: tests/http/test_stream.py) by
the API and by Redfish, deleted with DELETE. Credentials in the URL are kept
0600 and never shown."""
import base64
import os
import stat

import pytest

from origin import Origin
from sse import SSE
from test_stream import gone, nbdkits

MANAGER = "/redfish/v1/Managers/vmedia"


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.stop()


def add_link(api, name, url):
    return api.post("/images", json={"name": name, "url": url, "link": True})


def test_a_link_is_listed_with_its_probed_size_and_stores_no_data(api, origin, server):
    origin.add("debian.iso", os.urandom(3 << 20))
    r = add_link(api, "debian.iso", origin.url + "/files/debian.iso")
    assert r.status_code == 201, r.text
    img = r.json()
    assert img["kind"] == "link" and img["name"] == "debian.iso"
    assert img["size"] == 3 << 20 and img["source"] == origin.url + "/files/debian.iso"
    assert img["sha256"] is None and img["attached_to"] == []
    api.put("/images/a.img", data=b"a" * 4096)
    listed = api.get("/images").json()["images"]
    assert [(i["name"], i["kind"]) for i in listed] == [("a.img", "image"), ("debian.iso", "link")]
    # No copy: nothing under its name in the folder; no nbdkit runs yet.
    assert not os.path.exists(os.path.join(server.storage, "debian.iso"))
    assert nbdkits(server.storage) == []
    r = api.get("/images/debian.iso")
    assert r.status_code == 409 and r.json()["error"]["code"] == "image_is_link"


def test_a_link_is_inserted_by_name_through_the_stream(api, origin, server):
    origin.add("boot.iso", os.urandom(1 << 20))
    assert add_link(api, "installer.iso", origin.url + "/files/boot.iso").status_code == 201
    r = api.post("/luns/0/insert", json={"image": "installer.iso"})
    assert r.status_code == 200, r.text
    lun = r.json()
    assert lun["image"] == "installer.iso" and lun["cdrom"] and lun["ro"]
    assert lun["stream"]["url"] == origin.url + "/files/boot.iso"
    assert lun["stream"]["size"] == 1 << 20
    assert len(nbdkits(server.storage)) == 1
    img = [i for i in api.get("/images").json()["images"] if i["name"] == "installer.iso"][0]
    assert img["attached_to"] == [0]
    # Inserted, it cannot be deleted; ejected, it can, and the stream is gone.
    r = api.delete("/images/installer.iso")
    assert r.status_code == 409 and r.json()["error"]["code"] == "image_attached"
    r = api.post("/luns/0/insert", json={"image": "installer.iso"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "lun_not_empty"
    r = api.post("/luns/1/insert", json={"image": "installer.iso", "ro": False})
    assert r.status_code == 400 and r.json()["error"]["code"] == "read_only_stream"
    assert api.post("/luns/0/eject").status_code == 200
    assert gone(server.storage)
    assert api.delete("/images/installer.iso").status_code == 204
    assert [i["name"] for i in api.get("/images").json()["images"]] == []
    r = api.post("/luns/0/insert", json={"image": "installer.iso"})
    assert r.status_code == 404


def test_link_credentials_are_kept_0600_used_and_never_shown(api, origin, server):
    origin.add("disk.img", os.urandom(65536))
    url = origin.url.replace("http://", "http://alice:s3cret-pw@") + "/files/disk.img"
    r = add_link(api, "disk.img", url)
    assert r.status_code == 201, r.text
    assert "s3cret-pw" not in r.text and r.json()["source"].startswith("http://***@")
    path = os.path.join(server.storage, ".links", "disk.img.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    # A restart reads the link back.
    server.restart()
    assert "s3cret-pw" not in server.api.get("/images").text
    r = server.api.post("/luns/0/insert", json={"image": "disk.img"})
    assert r.status_code == 200, r.text
    assert r.json()["cdrom"] is False and "s3cret-pw" not in r.text
    want = "Basic " + base64.b64encode(b"alice:s3cret-pw").decode()
    heads = [h for p, h in origin.requests if p == "/files/disk.img"]
    assert len(heads) >= 3 and all(h.get("Authorization") == want for h in heads), heads
    assert "s3cret-pw" not in server.log()
    server.api.post("/luns/0/eject")


def test_links_and_images_never_share_a_name(api, origin):
    origin.add("x.img", os.urandom(4096))
    api.put("/images/a.img", data=b"a" * 4096)
    r = add_link(api, "a.img", origin.url + "/files/x.img")
    assert r.status_code == 409 and r.json()["error"]["code"] == "image_exists"
    assert add_link(api, "b.img", origin.url + "/files/x.img").status_code == 201
    r = api.put("/images/b.img", data=b"b" * 4096)
    assert r.status_code == 409 and "named link" in r.json()["error"]["message"]
    r = add_link(api, "b.img", origin.url + "/files/x.img")
    assert r.status_code == 409


@pytest.mark.parametrize("path,body,status,code", [
    ("/norange/x.img", None, 422, "no_range_support"),
    ("/files/nope.img", None, 422, "server_error"),
    ("/files/x.img", {"name": "../x", "link": True}, 400, "bad_name"),
    ("/files/x.img", {"name": "x.img", "link": False}, 400, "bad_json"),
    ("/files/x.img", {"name": "x.img", "link": True, "size": 5}, 400, "bad_json"),
])
def test_bad_links_are_refused_and_nothing_is_kept(api, origin, server, path, body, status, code):
    origin.add("x.img", os.urandom(4096))
    body = dict(body or {"name": "x.img", "link": True}, url=origin.url + path)
    r = api.post("/images", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert api.get("/images").json()["images"] == []
    assert os.listdir(os.path.join(server.storage, ".links")) == []


def test_redfish_inserts_a_link_by_name_as_a_stream(make_server, origin):
    srv = make_server(["--luns", "2"])
    origin.add("boot.iso", os.urandom(1 << 20))
    assert add_link(srv.api, "boot.iso", origin.url + "/files/boot.iso").status_code == 201
    target = MANAGER + "/VirtualMedia/1/Actions/VirtualMedia.InsertMedia"
    r = srv.api.post(target, json={"Image": "boot.iso", "TransferMethod": "Upload"})
    assert r.status_code == 200, r.text
    vm = srv.api.get(MANAGER + "/VirtualMedia/1").json()
    assert vm["Inserted"] and vm["ImageName"] == "boot.iso"
    assert vm["Image"] == origin.url + "/files/boot.iso"
    assert vm["TransferMethod"] == "Stream" and vm["TransferProtocolType"] == "HTTP"
    assert srv.api.get("/luns/1").json()["stream"]["size"] == 1 << 20
    srv.api.post(target.replace("InsertMedia", "EjectMedia"), json={})
    assert gone(srv.storage)
    # Attached with Inserted false, then PATCH Inserted true streams it.
    r = srv.api.post(target, json={"Image": "boot.iso", "Inserted": False})
    assert r.status_code == 200 and srv.api.get("/luns/1").json()["state"] == "empty"
    r = srv.api.request("PATCH", MANAGER + "/VirtualMedia/1", json={"Inserted": True})
    assert r.status_code == 200, r.text
    assert srv.api.get("/luns/1").json()["stream"] is not None
    srv.api.post(target.replace("InsertMedia", "EjectMedia"), json={})


def test_events_carry_links_and_their_luns(api, origin, server):
    origin.add("x.img", os.urandom(65536))
    assert add_link(api, "x.img", origin.url + "/files/x.img").status_code == 201
    c = SSE(server.port)
    etype, state = c.next()
    assert etype == "state"
    assert [(i["name"], i["kind"]) for i in state["images"]] == [("x.img", "link")]
    assert api.post("/luns/1/insert", json={"image": "x.img"}).status_code == 200
    c.wait_for(lambda t, d: t == "image_changed" and d["name"] == "x.img" and
               d["attached_to"] == [1])
    assert api.post("/luns/1/eject").status_code == 200
    c.wait_for(lambda t, d: t == "image_changed" and d["name"] == "x.img" and
               d["attached_to"] == [])
    assert api.delete("/images/x.img").status_code == 204
    c.wait_for(lambda t, d: t == "image_removed" and d["name"] == "x.img")
    c.close()
