"""Redfish VirtualMedia: driven with sushy (OpenStack Ironic's own Redfish
client) and with plain requests. Every Redfish response is checked against
the DMTF schema subsets in tests/redfish/ (and, through the `api` client,
against api/openapi.yaml)."""
import base64
import json
import os
import subprocess
import threading
import time

import xml.etree.ElementTree as ET

import jsonschema
import pytest
import requests
import sushy
from sushy import connector as sushy_connector
from sushy import exceptions as sushy_exc
from sushy.resources.manager import virtual_media as sushy_vm

from conftest import ROOT, VMEDIAD
from origin import Origin
from test_images import small_fs  # noqa: F401 (fixture)
from test_luns import _sparse_images
from test_stream import gone, nbdkits

SCHEMAS = os.path.join(ROOT, "tests", "redfish")
MANAGER = "/redfish/v1/Managers/vmedia"
SYSTEM = "/redfish/v1/Systems/target"
PASSWORD = "correct horse battery"

_store = {}
for _f in os.listdir(SCHEMAS):
    if _f.endswith(".json"):
        with open(os.path.join(SCHEMAS, _f)) as fh:
            _s = json.load(fh)
        _store[_s["$id"]] = _s


def _schema_for(path, body):
    """The DMTF schema subset a Redfish body must follow."""
    if "error" in body:
        name = "redfish-error.v1_0_1.json"
    elif "@odata.type" in body:
        t = body["@odata.type"].lstrip("#").split(".")
        name = "%s.%s.json" % (t[0], t[1]) if len(t) == 3 else "%s.json" % t[0]
    elif path.rstrip("/") == "/redfish":
        name = "redfish-versions.json"
    elif "value" in body:
        name = "odata-service.json"
    else:
        name = "action-response.json"
    key = "http://vmedia.test/redfish/" + name
    assert key in _store, "no schema %s for %s: %s" % (name, path, body)
    return _store[key]


def validate(resp):
    """Checks a Redfish response: JSON, OData-Version, and its DMTF schema."""
    if resp.request.method == "HEAD" or resp.status_code == 204:
        return
    if resp.status_code in (401, 429):     # the HTTP layer's, the project's own shape
        return
    assert resp.headers["Content-Type"].startswith("application/json"), resp.headers
    assert resp.headers.get("OData-Version") == "4.0", resp.headers
    body = resp.json()
    schema = _schema_for(resp.request.path_url, body)
    jsonschema.Draft202012Validator(
        schema, resolver=jsonschema.RefResolver.from_schema(schema, store=_store),
        format_checker=jsonschema.FormatChecker()).validate(body)
    if "@odata.id" in body:
        assert resp.request.path_url.rstrip("/") == body["@odata.id"].rstrip("/") or \
            "/Monitor" in resp.request.path_url or "/Actions/" in resp.request.path_url


def rf(api, method, path, **kw):
    r = api.request(method, path, **kw)
    validate(r)
    return r


def connect(srv, user=None, password=None):
    conn = sushy_connector.Connector(srv.url, response_callback=validate)
    return sushy.Sushy(srv.url, username=user, password=password, connector=conn)


def members(root, system=False):
    if system:
        coll = sushy_vm.VirtualMediaCollection(root._conn, SYSTEM + "/VirtualMedia",
                                               redfish_version=root.redfish_version, root=root)
    else:
        coll = root.get_manager(MANAGER).virtual_media
    return sorted(coll.get_members(), key=lambda m: int(m.identity))


def wait_for(fn, timeout=20, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.stop()


@pytest.fixture
def srv(make_server):
    return make_server(["--luns", "2"])


def test_every_resource_follows_its_dmtf_schema(srv):
    api = srv.api
    assert rf(api, "GET", "/redfish").json() == {"v1": "/redfish/v1/"}
    root = rf(api, "GET", "/redfish/v1").json()
    assert requests.get(srv.url + "/redfish/v1/").json() == root
    # The task service's property is Tasks; only its URI says TaskService.
    assert "TaskService" not in root
    assert root["Tasks"] == {"@odata.id": "/redfish/v1/TaskService"}
    for link in ("Systems", "Managers", "Tasks", "SessionService"):
        rf(api, "GET", root[link]["@odata.id"])
    rf(api, "GET", root["Links"]["Sessions"]["@odata.id"])
    rf(api, "GET", "/redfish/v1/odata")
    for owner in (SYSTEM, MANAGER):
        parent = owner.rsplit("/", 1)[0]
        assert rf(api, "GET", parent).json()["Members"] == [{"@odata.id": owner}]
        res = rf(api, "GET", owner).json()
        coll = rf(api, "GET", res["VirtualMedia"]["@odata.id"]).json()
        assert coll["Members@odata.count"] == 2
        for m in coll["Members"]:
            r = rf(api, "GET", m["@odata.id"])
            vm = r.json()
            assert r.headers["ETag"] == vm["@odata.etag"]
            assert "PATCH" in r.headers["Allow"]
            assert vm["MediaTypes"] == ["CD", "USBStick"]
            assert vm["Inserted"] is False and vm["Image"] is None
            assert vm["ConnectedVia"] == "NotConnected" and vm["TransferMethod"] == "Upload"
            for a in ("#VirtualMedia.InsertMedia", "#VirtualMedia.EjectMedia"):
                assert vm["Actions"][a]["target"].startswith(m["@odata.id"] + "/Actions/")
    rf(api, "GET", "/redfish/v1/TaskService/Tasks")
    # Errors have Redfish's shape and fitting statuses.
    for path in ("/redfish/v1/Chassis", SYSTEM + "/VirtualMedia/2", "/redfish/v1/Systems/other",
                 MANAGER + "/VirtualMedia/01", "/redfish/v1/TaskService/Tasks/99"):
        r = rf(api, "GET", path)
        assert r.status_code == 404, path
        assert r.json()["error"]["code"].endswith(".ResourceNotFound")
    r = rf(api, "POST", SYSTEM, json={})
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"
    assert r.json()["error"]["code"].endswith(".OperationNotAllowed")


EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


def _types(body, found):
    """Every @odata.type in a body, nested ones (Oem objects, messages) too."""
    if isinstance(body, dict):
        for k, v in body.items():
            if k == "@odata.type":
                found.add(v.lstrip("#").rsplit(".", 1)[0])
            _types(v, found)
    elif isinstance(body, list):
        for v in body:
            _types(v, found)
    return found


def test_metadata_references_every_schema_the_resources_use(srv, origin):
    api = srv.api
    origin.add("m.iso", b"m" * 3000)
    assert rf(api, "POST", MANAGER + "/VirtualMedia/0/Actions/VirtualMedia.InsertMedia",
              json={"Image": origin.url + "/files/m.iso"}).status_code == 200
    # Readable without credentials too (DSP0266), as XML.
    for r in (api.get("/redfish/v1/$metadata"), requests.get(srv.url + "/redfish/v1/$metadata")):
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/xml"
        assert r.headers["OData-Version"] == "4.0"
    doc = ET.fromstring(api.get("/redfish/v1/$metadata").content)
    refs = {inc.get("Namespace"): ref.get("Uri") for ref in doc.iter(EDMX + "Reference")
            for inc in ref.iter(EDMX + "Include")}
    container = doc.find(".//" + EDM + "EntityContainer")
    assert container.get("Extends") == "ServiceRoot.v1_5_0.ServiceContainer"
    # Every versioned namespace a resource (or an object in it) names is referenced.
    used = set()
    paths = ["/redfish/v1", SYSTEM, MANAGER, SYSTEM + "/VirtualMedia/0", MANAGER + "/VirtualMedia/1",
             "/redfish/v1/Systems", "/redfish/v1/Managers", SYSTEM + "/VirtualMedia",
             "/redfish/v1/TaskService", "/redfish/v1/TaskService/Tasks",
             "/redfish/v1/TaskService/Tasks/1", "/redfish/v1/SessionService",
             "/redfish/v1/SessionService/Sessions"]
    for p in paths:
        _types(rf(api, "GET", p).json(), used)
    assert "VmediaOem.v1_0_0" in used and "Task.v1_4_3" in used and "Message.v1_1_1" in used
    missing = used - set(refs)
    assert not missing, missing
    for ns in used:
        base = ns.split(".")[0]
        assert base in refs, base
        if not refs[ns].startswith("/"):
            assert refs[ns] == "http://redfish.dmtf.org/schemas/v1/%s_v1.xml" % base
    # The OEM schema is served where $metadata says, and defines what Oem.vmedia holds.
    r = api.get(refs["VmediaOem.v1_0_0"])
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/xml"
    oem = ET.fromstring(r.content)
    types = {s.get("Namespace") + "." + t.get("Name"): {p.get("Name") for p in t.iter(EDM + "Property")}
             for s in oem.iter(EDM + "Schema") for t in s.iter(EDM + "ComplexType")}
    for p in (MANAGER, MANAGER + "/VirtualMedia/0", SYSTEM + "/VirtualMedia/1"):
        obj = api.get(p).json()["Oem"]["vmedia"]
        name = obj["@odata.type"].lstrip("#")
        assert name in types, name
        assert set(obj) - {"@odata.type"} <= types[name], (p, obj)


def test_sushy_finds_the_task_service(srv):
    root = connect(srv, "u", "p")
    ts = root.get_task_service()
    assert ts.identity == "TaskService"
    assert ts.tasks.get_members() == []


def test_sushy_discovers_virtual_media_on_manager_and_system(srv):
    root = connect(srv, "anyone", "anything")
    assert root.redfish_version == "1.6.0"
    mgr = root.get_manager(MANAGER)
    assert mgr.identity == "vmedia"
    sys_ = root.get_system(SYSTEM)
    assert sys_.identity == "target"
    for system in (False, True):
        ms = members(root, system)
        assert [m.identity for m in ms] == ["0", "1"]
        for m in ms:
            assert set(m.media_types) == {sushy.VirtualMediaType.CD,
                                          sushy.VirtualMediaType.USB_STICK}
            assert m.inserted is False and m.image is None
            assert m.transfer_method == sushy.TransferMethod.UPLOAD


def test_sushy_inserts_a_url_then_ejects(srv, origin):
    data = os.urandom(300 << 10)
    origin.add("boot.iso", data)
    url = origin.url + "/files/boot.iso"
    root = connect(srv, "u", "p")
    vm = members(root)[0]
    vm.insert_media(url)                # Ironic's call: inserted, write-protected
    vm.refresh()
    wait_for(lambda: (vm.refresh() or vm.inserted), what="the insert")
    assert vm.image == url and vm.image_name == "boot.iso"
    assert vm.write_protected is True
    assert vm.connected_via == sushy.ConnectedVia.URI
    lun = srv.api.get("/luns/0").json()
    assert lun["image"] == "boot.iso" and lun["cdrom"] is True and lun["ro"] is True
    assert srv.api.get("/images/boot.iso").content == data
    # The system's view of the same LUN agrees.
    assert members(root, system=True)[0].inserted is True
    vm.eject_media()
    vm.refresh()
    assert vm.inserted is False and vm.image is None
    assert srv.api.get("/luns/0").json()["state"] == "empty"
    # Inserting the same URL again fetches it again: the origin's new content.
    data2 = os.urandom(1000)
    origin.add("boot.iso", data2)
    vm.insert_media(url)
    wait_for(lambda: (vm.refresh() or vm.inserted), what="the second insert")
    assert srv.api.get("/images/boot.iso").content == data2


def test_insert_with_credentials_for_the_image_server(srv, origin):
    origin.add("secret.iso", b"s" * 5000)
    root = connect(srv, "u", "p")
    vm = members(root)[1]
    url = origin.url + "/files/secret.iso"
    vm.insert_media(url, username="op@site", password="p:w/d")
    wait_for(lambda: (vm.refresh() or vm.inserted), what="the insert")
    sent = [h for p, h in origin.requests if p == "/files/secret.iso"]
    assert sent and sent[-1]["Authorization"] == \
        "Basic " + base64.b64encode(b"op@site:p:w/d").decode()
    # The password is used, never shown.
    for path in (MANAGER + "/VirtualMedia/1", "/redfish/v1/TaskService/Tasks"):
        assert "p:w/d" not in rf(srv.api, "GET", path).text
        assert "p%3Aw%2Fd" not in rf(srv.api, "GET", path).text
    assert "op" not in vm.image.split("/")[2]
    # Credentials twice (in the URL and as parameters) is refused.
    vm.eject_media()
    with pytest.raises(sushy_exc.BadRequestError) as e:
        vm.insert_media(origin.url.replace("://", "://a:b@") + "/files/secret.iso",
                        username="op", password="x")
    assert e.value.code.endswith(".ActionParameterValueConflict")


def test_sushy_inserts_a_stored_image_at_once(srv):
    api = srv.api
    assert api.put("/images/disk.img", data=b"\0" * 4096).status_code == 201
    root = connect(srv, "u", "p")
    vm = members(root, system=True)[1]
    vm.insert_media("disk.img", write_protected=False)
    vm.refresh()                        # no waiting: a stored image goes in at once
    assert vm.inserted is True and vm.image == "disk.img" and vm.write_protected is False
    assert vm.connected_via == sushy.ConnectedVia.APPLET
    lun = api.get("/luns/1").json()
    assert lun["image"] == "disk.img" and lun["cdrom"] is False and lun["ro"] is False
    # MediaType CD makes a CD-ROM of any image.
    vm.eject_media()
    r = rf(api, "POST", SYSTEM + "/VirtualMedia/1/Actions/VirtualMedia.InsertMedia",
           json={"Image": "disk.img", "MediaType": "CD"})
    assert r.status_code == 200
    assert api.get("/luns/1").json()["cdrom"] is True
    # A second insert while one is in: 409.
    with pytest.raises(sushy_exc.HTTPError) as e:
        vm.insert_media("disk.img")
    assert e.value.status_code == 409 and e.value.code.endswith(".ResourceInUse")


def test_slow_download_is_a_task_and_completes_without_polling(srv, origin):
    origin.add("slow.iso", os.urandom(60000))
    url = origin.url + "/slow/slow.iso?bps=20000"          # about 3 s
    api = srv.api
    r = rf(api, "POST", MANAGER + "/VirtualMedia/0/Actions/VirtualMedia.InsertMedia",
           json={"Image": url})
    assert r.status_code == 202
    task = r.json()
    assert task["TaskState"] in ("New", "Running")
    assert r.headers["Location"] == task["@odata.id"]
    monitor = task["TaskMonitor"]
    assert monitor == task["@odata.id"] + "/Monitor"
    vm = rf(api, "GET", MANAGER + "/VirtualMedia/0").json()
    assert vm["Inserted"] is False and vm["Image"] == url and vm["Status"]["State"] == "Starting"
    for p in (monitor, task["@odata.id"]):
        m = rf(api, "GET", p)
        assert m.status_code == 202 and m.json()["Id"] == task["Id"]
    # Nobody polls from here: the insert happens anyway.
    wait_for(lambda: api.get("/luns/0").json()["state"] == "inserted", what="the insert")
    t = rf(api, "GET", task["@odata.id"]).json()
    assert t["TaskState"] == "Completed" and t["PercentComplete"] == 100 and "EndTime" in t
    m = rf(api, "GET", monitor)
    assert m.status_code == 200
    assert any(x["MessageId"].endswith("TaskCompletedOK") for x in m.json()["@Message.ExtendedInfo"])
    ids = [x["@odata.id"] for x in rf(api, "GET", "/redfish/v1/TaskService/Tasks").json()["Members"]]
    assert task["@odata.id"] in ids


def test_sushy_waits_on_the_task_monitor(srv, origin):
    origin.add("slow2.iso", os.urandom(40000))
    root = connect(srv, "u", "p")
    vm = members(root)[1]
    target = vm._actions.insert_media.target_uri
    resp = root._conn.post(target, data={"Image": origin.url + "/slow/slow2.iso?bps=20000"},
                           blocking=True, timeout=30)
    assert resp.status_code == 200
    vm.refresh()
    assert vm.inserted is True and vm.image_name == "slow2.iso"


def test_eject_wins_over_a_host_lock_and_says_so(srv):
    api = srv.api
    api.put("/images/a.iso", data=b"x" * 2048)
    root = connect(srv, "u", "p")
    vm = members(root)[0]
    vm.insert_media("a.iso")
    assert api.post("/sim/luns/0/host?lock=1").json()["locked"] is True
    assert api.post("/luns/0/eject").status_code == 409      # the lock is real
    r = rf(api, "POST", MANAGER + "/VirtualMedia/0/Actions/VirtualMedia.EjectMedia")
    assert r.status_code == 200
    msgs = r.json()["@Message.ExtendedInfo"]
    forced = [m for m in msgs if m["MessageId"] == "Vmedia.1.0.ForcedEject"]
    assert forced and forced[0]["Severity"] == "Warning" and "by force" in forced[0]["Message"]
    lun = api.get("/luns/0").json()
    assert lun["state"] == "empty" and lun["last_eject"]["forced"] is True
    # And through sushy, again locked.
    vm.insert_media("a.iso")
    api.post("/sim/luns/0/host?lock=1")
    vm.eject_media()
    vm.refresh()
    assert vm.inserted is False
    # Ejecting an empty LUN is fine.
    vm.eject_media()


def test_bad_image_values_are_redfish_errors(make_server, origin):
    srv = make_server(["--luns", "2", "--api-wait-ms", "10000"])
    root = connect(srv, "u", "p")
    vm = members(root)[0]
    cases = [("ftp://example.org/x.iso", "ActionParameterValueFormatError"),
             ("../etc/passwd", "ActionParameterValueFormatError"),
             ("missing.iso", "ResourceMissingAtURI"),
             (origin.url + "/", "ActionParameterValueFormatError"),
             (origin.url + "/files/absent.iso", "ResourceMissingAtURI")]
    for image, key in cases:
        with pytest.raises(sushy_exc.BadRequestError) as e:
            vm.insert_media(image)
        assert e.value.code.endswith("." + key), (image, e.value.body)
        info = e.value.body["@Message.ExtendedInfo"]
        assert info[-1]["RelatedProperties"] == ["#/Image"], info
    vm.refresh()
    assert vm.inserted is False
    api = srv.api
    target = MANAGER + "/VirtualMedia/0/Actions/VirtualMedia.InsertMedia"
    for body, key in (({}, "ActionParameterMissing"), ({"Image": 3}, "ActionParameterValueTypeError"),
                      ({"Image": "a.iso", "Colour": "red"}, "ActionParameterUnknown"),
                      ({"Image": "a.iso", "TransferMethod": "Copy"}, "ActionParameterNotSupported"),
                      ({"Image": "a.iso", "MediaType": "Floppy"}, "ActionParameterNotSupported")):
        r = rf(api, "POST", target, json=body)
        assert r.status_code == 400 and r.json()["error"]["code"].endswith("." + key), (body, r.json())
    # A body that is not JSON: the HTTP layer's own 400 (in the spec too).
    r = api.post(target, data=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_json"
    # A stored image of that name that came from elsewhere is never overwritten.
    api.put("/images/mine.iso", data=b"m" * 100)
    origin.add("mine.iso", b"other")
    r = rf(api, "POST", target, json={"Image": origin.url + "/files/mine.iso"})
    assert r.status_code == 409 and r.json()["error"]["code"].endswith(".ResourceAlreadyExists")
    assert api.get("/images/mine.iso").content == b"m" * 100


def test_patch_inserts_and_ejects_with_etags(srv):
    api = srv.api
    api.put("/images/p.img", data=b"p" * 1024)
    path = SYSTEM + "/VirtualMedia/0"
    etag = rf(api, "GET", path).headers["ETag"]
    r = rf(api, "PATCH", path, json={"Image": "p.img", "Inserted": True, "WriteProtected": False},
           headers={"If-Match": etag})
    assert r.status_code == 200
    vm = rf(api, "GET", path)
    assert vm.json()["Inserted"] is True and vm.json()["WriteProtected"] is False
    assert vm.headers["ETag"] != etag
    r = rf(api, "PATCH", path, json={"Image": None, "Inserted": False}, headers={"If-Match": etag})
    assert r.status_code == 412 and r.json()["error"]["code"].endswith(".PreconditionFailed")
    r = rf(api, "PATCH", path, json={"Image": None, "Inserted": False},
           headers={"If-Match": vm.headers["ETag"]})
    assert r.status_code == 200
    assert api.get("/luns/0").json()["state"] == "empty"
    # Inserted false attaches without inserting; Inserted true then inserts.
    r = rf(api, "PATCH", path, json={"Image": "p.img", "Inserted": False})
    assert r.status_code == 200
    vm = rf(api, "GET", path).json()
    assert vm["Inserted"] is False and vm["ImageName"] == "p.img"
    assert api.get("/luns/0").json()["state"] == "empty"
    assert rf(api, "PATCH", path, json={"Inserted": True}).status_code == 200
    lun = api.get("/luns/0").json()
    assert lun["image"] == "p.img" and lun["ro"] is True      # WriteProtected defaults to true
    assert rf(api, "PATCH", path, json={"WriteProtected": True}).status_code == 200
    for body, code, key in (({"Colour": 1}, 400, "PropertyUnknown"),
                            ({"Id": "7"}, 400, "PropertyNotWritable"),
                            ({"Inserted": "yes"}, 400, "PropertyValueTypeError"),
                            ({"WriteProtected": False}, 409, "ResourceInUse")):
        r = rf(api, "PATCH", path, json=body)
        assert r.status_code == code and r.json()["error"]["code"].endswith("." + key), body


def test_eject_cancels_a_pending_download(srv, origin):
    origin.add("long.iso", os.urandom(200000))
    api = srv.api
    r = rf(api, "POST", MANAGER + "/VirtualMedia/1/Actions/VirtualMedia.InsertMedia",
           json={"Image": origin.url + "/slow/long.iso?bps=20000"})
    assert r.status_code == 202
    task = r.headers["Location"]
    r = rf(api, "POST", MANAGER + "/VirtualMedia/1/Actions/VirtualMedia.EjectMedia", json={})
    assert r.status_code == 200
    assert rf(api, "GET", task).json()["TaskState"] == "Cancelled"
    time.sleep(0.5)
    assert api.get("/luns/1").json()["state"] == "empty"
    assert rf(api, "GET", MANAGER + "/VirtualMedia/1").json()["Image"] is None


@pytest.fixture
def secured(make_server, tmpdir_path):
    path = os.path.join(tmpdir_path, "credentials")
    out = subprocess.run([VMEDIAD, "--auth-file", path, "--add-user", "ironic"],
                         input=PASSWORD + "\n", capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return make_server(["--auth-file", path, "--luns", "2"])


def test_authentication_basic_for_sushy_and_401_without(secured):
    srv = secured
    # The service root is public (DSP0266); everything else needs credentials.
    assert requests.get(srv.url + "/redfish/v1/").status_code == 200
    assert requests.get(srv.url + "/redfish").status_code == 200
    assert requests.get(srv.url + "/redfish/v1/$metadata").status_code == 200
    for method, path in (("GET", "/redfish/v1/Systems"), ("GET", MANAGER + "/VirtualMedia/0"),
                         ("POST", MANAGER + "/VirtualMedia/0/Actions/VirtualMedia.EjectMedia"),
                         ("PATCH", SYSTEM + "/VirtualMedia/0"), ("GET", "/redfish/v1/TaskService")):
        r = srv.api.request(method, path, json={})
        assert r.status_code == 401, (method, path)
        assert "Basic" in r.headers["WWW-Authenticate"]
    root = connect(srv, "ironic", PASSWORD)
    # No session (the service offers none): sushy fell back to HTTP Basic.
    assert root._conn._session.auth == ("ironic", PASSWORD)
    assert "X-Auth-Token" not in root._conn._session.headers
    vm = members(root)[0]
    assert vm.inserted is False
    srv.api.put("/images/x.iso", data=b"x", auth=("ironic", PASSWORD))
    vm.insert_media("x.iso")
    vm.refresh()
    assert vm.inserted is True
    bad = connect(srv, "ironic", "wrong password")
    with pytest.raises(sushy_exc.AccessError):
        bad.get_manager(MANAGER)
    hdr = {"Authorization": "Basic " + base64.b64encode(b"ironic:" + PASSWORD.encode()).decode()}
    assert requests.get(srv.url + "/redfish/v1/Systems", headers=hdr).status_code == 200


def test_a_stuck_lun_holds_up_no_download(make_server, origin):
    """The insert after an InsertMedia's download runs on the Redfish worker:
    a LUN stuck behind a hung host must not keep the (only) download worker
    from the next job."""
    srv = make_server(["--luns", "2", "--max-downloads", "1", "--api-wait-ms", "5000"])
    api = srv.api
    api.put("/images/held.img", data=b"h" * 4096)
    assert api.post("/luns/1/insert", json={"image": "held.img"}).status_code == 200
    # The host stops reading LUN 1: setting any LUN's file now blocks.
    assert api.post("/sim/luns/1/host?hang=1").json()["hung"] is True
    origin.add("first.iso", b"1" * 5000)
    origin.add("second.iso", b"2" * 5000)
    done = {}

    def insert():
        done["r"] = rf(api, "POST", MANAGER + "/VirtualMedia/0/Actions/VirtualMedia.InsertMedia",
                       json={"Image": origin.url + "/files/first.iso"})
    t = threading.Thread(target=insert)
    t.start()
    wait_for(lambda: any(j["name"] == "first.iso" and j["state"] == "done"
                         for j in api.get("/downloads").json()["downloads"]),
             what="the first download")
    t0 = time.monotonic()
    job = api.post("/downloads", json={"url": origin.url + "/files/second.iso"}).json()
    wait_for(lambda: api.get("/downloads/%d" % job["id"]).json()["state"] == "done",
             timeout=10, what="the second download")
    took = time.monotonic() - t0
    assert took < 2.0, "the second download waited %.1f s behind the stuck insert" % took
    api.post("/sim/luns/1/host?hang=0")
    t.join(10)
    assert done["r"].status_code in (200, 202)
    wait_for(lambda: api.get("/luns/0").json()["state"] == "inserted", what="the insert")
    assert api.get("/luns/0").json()["image"] == "first.iso"


def test_transfer_method_upload_stream_and_the_default(make_server, origin):
    """TransferMethod Upload downloads, then inserts; Stream inserts the URL
    itself, read through nbdkit, nothing stored; without one,
    --redfish-transfer-default decides. Stored names go in either way."""
    data = os.urandom(3000)
    origin.add("t.iso", data)
    origin.add("u.img", os.urandom(4096))
    url = origin.url + "/files/t.iso"
    for default in ("upload", "stream"):
        srv = make_server(["--luns", "2", "--redfish-transfer-default", default])
        api = srv.api
        target = MANAGER + "/VirtualMedia/%d/Actions/VirtualMedia.InsertMedia"
        vm = rf(api, "GET", MANAGER + "/VirtualMedia/0").json()
        assert vm["TransferMethod"] == default.capitalize()
        assert vm["TransferProtocolType"] is None
        r = rf(api, "POST", target % 0, json={"Image": url})
        assert r.status_code == 200, r.json()
        vm = rf(api, "GET", MANAGER + "/VirtualMedia/0").json()
        assert vm["Inserted"] is True and vm["Image"] == url and vm["ImageName"] == "t.iso"
        assert vm["TransferMethod"] == default.capitalize()
        assert vm["TransferProtocolType"] == "HTTP" and vm["ConnectedVia"] == "URI"
        lun = api.get("/luns/0").json()
        if default == "stream":
            assert lun["stream"]["url"] == url and lun["stream"]["size"] == 3000
            assert api.get("/images/t.iso", check=False).status_code == 404   # no copy
            assert len(nbdkits(srv.storage)) == 1
        else:
            assert lun["stream"] is None and api.get("/images/t.iso").content == data
        # The other method, named: the same URL's other file goes in on LUN 1.
        other = "Stream" if default == "upload" else "Upload"
        r = rf(api, "POST", target % 1, json={"Image": origin.url + "/files/u.img",
                                             "TransferMethod": other})
        assert r.status_code == 200, r.json()
        vm = rf(api, "GET", SYSTEM + "/VirtualMedia/1").json()
        assert vm["TransferMethod"] == other and vm["Image"] == origin.url + "/files/u.img"
        assert vm["WriteProtected"] is True and vm["ImageName"] == "u.img"
        assert (api.get("/luns/1").json()["stream"] is not None) == (other == "Stream")
        for n in (0, 1):
            rf(api, "POST", (target % n).replace("InsertMedia", "EjectMedia"), json={})
        assert gone(srv.storage)
        # A stored image is on the box already: Stream or not, it goes in.
        api.put("/images/s.img", data=b"s" * 512)
        r = rf(api, "POST", target % 1, json={"Image": "s.img", "TransferMethod": "Stream"})
        assert r.status_code == 200
        vm = rf(api, "GET", SYSTEM + "/VirtualMedia/1").json()
        assert vm["Inserted"] is True and vm["TransferProtocolType"] is None
        assert vm["TransferMethod"] == "Upload" and vm["Image"] == "s.img"
        # PATCH takes TransferMethod as well; other values are refused.
        r = rf(api, "PATCH", SYSTEM + "/VirtualMedia/1", json={"TransferMethod": "Copy"})
        assert r.status_code == 400 and r.json()["error"]["code"].endswith(".PropertyValueNotInList")
        rf(api, "POST", (target % 1).replace("InsertMedia", "EjectMedia"), json={})
        r = rf(api, "PATCH", SYSTEM + "/VirtualMedia/1", json={"Image": "s.img",
                                                                 "TransferMethod": "Stream"})
        assert r.status_code == 200
        assert rf(api, "GET", SYSTEM + "/VirtualMedia/1").json()["Inserted"] is True


def test_stream_with_credentials_reaches_the_server_and_never_shows_them(srv, origin):
    origin.add("secret.img", os.urandom(65536))
    root = connect(srv, "u", "p")
    vm = members(root)[0]
    url = origin.url + "/files/secret.img"
    vm.insert_media(url, username="op@site", password="p:w/d",
                    transfer_method="Stream")
    vm.refresh()                        # streamed: no task, in at once
    # Shown as an uploaded one is: the credentials' place redacted.
    assert vm.inserted is True and vm.image == url.replace("http://", "http://***@")
    assert vm.transfer_method == sushy.TransferMethod.STREAM
    sent = [h for p, h in origin.requests if p == "/files/secret.img"]
    want = "Basic " + base64.b64encode(b"op@site:p:w/d").decode()
    assert len(sent) >= 2 and all(h.get("Authorization") == want for h in sent), sent
    for path in (MANAGER + "/VirtualMedia/0", SYSTEM + "/VirtualMedia/0"):
        text = rf(srv.api, "GET", path).text
        assert "p:w/d" not in text and "p%3Aw%2Fd" not in text and "op%40site" not in text
    for text in (srv.api.get("/luns/0").text, srv.log()):
        assert "p:w/d" not in text and "p%3Aw%2Fd" not in text
    (pid, argv), = nbdkits(srv.storage)
    assert not any(b"p%3Aw" in a or b"p:w/d" in a for a in argv), argv
    vm.eject_media()
    assert gone(srv.storage)
    assert srv.api.get("/luns/0").json()["state"] == "empty"


def test_stream_refusals_are_redfish_errors(srv, origin):
    origin.add("x.img", os.urandom(4096))
    target = MANAGER + "/VirtualMedia/0/Actions/VirtualMedia.InsertMedia"
    cases = [
        ({"Image": origin.url + "/norange/x.img"}, 422, "GeneralError", "download it instead"),
        ({"Image": origin.url + "/files/x.img", "WriteProtected": False}, 400,
         "ActionParameterValueConflict", "write-protected"),
        ({"Image": origin.url + "/files/x.img", "Inserted": False}, 400,
         "ActionParameterNotSupported", "Inserted false"),
    ]
    for body, status, key, text in cases:
        body["TransferMethod"] = "Stream"
        r = rf(srv.api, "POST", target, json=body)
        assert r.status_code == status, r.text
        assert r.json()["error"]["code"].endswith("." + key) and text in r.text, r.text
        assert srv.api.get("/luns/0").json()["state"] == "empty"
        assert nbdkits(srv.storage) == []


def test_stream_refused_when_streaming_is_off(make_server, origin):
    srv = make_server(["--no-stream"])
    origin.add("x.img", os.urandom(4096))
    r = rf(srv.api, "POST", MANAGER + "/VirtualMedia/0/Actions/VirtualMedia.InsertMedia",
           json={"Image": origin.url + "/files/x.img", "TransferMethod": "Stream"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"].endswith(".ActionParameterNotSupported") and "streaming" in err["message"]
    assert err["@Message.ExtendedInfo"][0]["RelatedProperties"] == ["#/TransferMethod"]


def test_transfer_default_must_be_upload_or_stream(tmpdir_path):
    out = subprocess.run([VMEDIAD, "--storage", tmpdir_path, "--listen", "127.0.0.1:0",
                          "--redfish-transfer-default", "copy"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode != 0
    assert "--redfish-transfer-default must be upload or stream" in out.stderr


def test_a_download_the_disk_cannot_keep_is_507_not_a_bad_image(make_server, origin, small_fs):
    """InsertMedia of a URL when the image disk is full: the box's fault (507),
    not the caller's (400), and no task is left behind."""
    srv = make_server(["--luns", "1", "--reserve", "0"], storage=os.path.join(small_fs, "img"))
    origin.add("x.iso", b"x" * 4096)
    with open(os.path.join(small_fs, "filler"), "wb", buffering=0) as f:
        for chunk in (1 << 16, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError:
                pass
    api = srv.api
    target = MANAGER + "/VirtualMedia/0/Actions/VirtualMedia.InsertMedia"
    r = rf(api, "POST", target, json={"Image": origin.url + "/files/x.iso"})
    assert r.status_code == 507, r.text
    assert r.json()["error"]["code"].endswith(".GeneralError"), r.json()
    assert "space" in r.text or "No space" in r.text, r.text
    r = rf(api, "PATCH", MANAGER + "/VirtualMedia/0", json={"Image": origin.url + "/files/x.iso"})
    assert r.status_code == 507, r.text
    assert rf(api, "GET", "/redfish/v1/TaskService/Tasks").json()["Members"] == []
    assert api.get("/downloads").json()["downloads"] == []
    os.unlink(os.path.join(small_fs, "filler"))
    r = rf(api, "POST", target, json={"Image": origin.url + "/files/x.iso"})
    assert r.status_code in (200, 202), r.text


def test_an_iso_a_stock_kernel_would_cut_is_refused_as_a_cd(make_server, tmpdir_path):
    """The REST insert's rule holds for Redfish too: a CD-ROM LUN of a
    stock kernel would show the host only the first 2.36 GB."""
    storage, _ = _sparse_images(tmpdir_path)
    srv = make_server(["--luns", "2", "--sim-kernel", "stock"], storage=storage)
    api = srv.api
    target = MANAGER + "/VirtualMedia/0/Actions/VirtualMedia.InsertMedia"
    r = rf(api, "POST", target, json={"Image": "big.iso"})
    assert r.status_code == 422, r.text
    assert "2.36 GB" in r.text and '"cdrom\\": false' in r.text, r.text
    r = rf(api, "PATCH", MANAGER + "/VirtualMedia/1", json={"Image": "over.iso", "Inserted": True})
    assert r.status_code == 422, r.text
    assert [api.get("/luns/%d" % n).json()["state"] for n in (0, 1)] == ["empty", "empty"]
    # At the limit it goes in as a CD; larger, as a USB stick.
    assert rf(api, "POST", target, json={"Image": "at.iso"}).status_code == 200
    r = rf(api, "POST", target.replace("/0/", "/1/"), json={"Image": "big.iso",
                                                             "MediaType": "USBStick"})
    assert r.status_code == 200, r.text
    assert api.get("/luns/1").json()["cdrom"] is False
