"""Files inside an image (GET/PUT/DELETE /images/{name}/files...): FAT through
mtools, ISO 9660 through libarchive; checked against the real mtools,
xorriso and sfdisk, never against vmediad's own view alone."""
import hashlib
import json
import os
import struct
import subprocess

import pytest

from test_images import raw, tmp_files

MTOOLS_ENV = dict(os.environ, MTOOLS_SKIP_CHECK="1", MTOOLSRC="/dev/null")


def new_drive(api, name="x.img", size="64M", **kw):
    r = api.post("/images", json=dict(name=name, size=size, **kw))
    assert r.status_code == 201, r.text
    return r.json()


def mtype(image, path, offset=0):
    """The file as mtools itself reads it from the stored image."""
    spec = image + ("@@%d" % offset if offset else "")
    return subprocess.run(["mtype", "-i", spec, "::" + path], stdout=subprocess.PIPE,
                          check=True, env=MTOOLS_ENV).stdout


def test_add_then_list_then_download_is_byte_exact(api, server):
    new_drive(api)
    data = os.urandom(1234567)
    r = api.put("/images/x.img/files/EFI/BOOT/big.bin", data=data)
    assert r.status_code == 201, r.text
    assert r.json() == {"image": "x.img", "path": "/EFI/BOOT/big.bin", "size": len(data)}
    img_path = os.path.join(server.storage, "x.img")
    assert mtype(img_path, "/EFI/BOOT/big.bin") == data
    root = api.get("/images/x.img/files").json()
    assert root["filesystem"] == "fat" and root["dir"] == "/"
    assert [(f["name"], f["type"]) for f in root["files"]] == [("EFI", "dir")]
    sub = api.get("/images/x.img/files", params={"dir": "EFI/BOOT/"}).json()
    assert sub["dir"] == "/EFI/BOOT"
    assert [(f["name"], f["size"]) for f in sub["files"]] == [("big.bin", len(data))]
    r = api.get("/images/x.img/files/EFI/BOOT/big.bin")
    assert r.status_code == 200 and r.content == data
    assert 'filename="big.bin"' in r.headers["Content-Disposition"]
    assert tmp_files(server) == []


def test_replacing_a_file_and_the_new_digest_is_recorded(api, server):
    new_drive(api)
    assert api.put("/images/x.img/files/a.txt", data=b"one").status_code == 201
    assert api.put("/images/x.img/files/a.txt", data=b"second").status_code == 201
    assert api.get("/images/x.img/files/a.txt").content == b"second"
    with open(os.path.join(server.storage, "x.img"), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert api.get("/images").json()["images"][0]["sha256"] == digest
    server.restart()	# the metadata matches the changed file: no rehash
    assert server.api.get("/images").json()["images"][0]["sha256"] == digest
    assert "verifying" not in server.api.get("/images").json()["images"][0]


def test_a_file_written_by_mtools_directly_is_listed_and_downloads(api, server):
    new_drive(api)
    img_path = os.path.join(server.storage, "x.img")
    src = os.path.join(server.storage, "..", "from-host.txt")
    with open(src, "wb") as f:
        f.write(b"written by the target\n")
    subprocess.run(["mcopy", "-i", img_path, src, "::/LOG.TXT"], check=True, env=MTOOLS_ENV)
    names = [f["name"] for f in api.get("/images/x.img/files").json()["files"]]
    assert names == ["LOG.TXT"]
    assert api.get("/images/x.img/files/LOG.TXT").content == b"written by the target\n"


@pytest.mark.parametrize("path", ["../etc/passwd", "a/../../b", ".hidden", "-o", "a%20b",
                                  "%2e%2e/x", "x/%2e%2e", "*.txt", "a%2f..%2f..%2fb"])
def test_paths_out_of_the_image_or_odd_are_400(api, server, path):
    """Sent exactly as written (http.client does not resolve dot segments)."""
    new_drive(api)
    for method, target in (("PUT", "/images/x.img/files/" + path),
                           ("GET", "/images/x.img/files/" + path),
                           ("DELETE", "/images/x.img/files/" + path),
                           ("GET", "/images/x.img/files?dir=" + path)):
        r, body = raw(server.port, method, target, {"Host": "localhost"}, b"x")
        assert r.status == 400, (method, target, body)
        assert json.loads(body)["error"]["code"] == "bad_path"
    assert [f["name"] for f in api.get("/images/x.img/files").json()["files"]] == []
    assert [i["name"] for i in api.get("/images").json()["images"]] == ["x.img"]


def test_missing_file_or_directory_is_404(api):
    new_drive(api)
    assert api.get("/images/x.img/files/nothing.txt").status_code == 404
    assert api.get("/images/x.img/files", params={"dir": "/nothing"}).status_code == 404
    assert api.get("/images/nope.img/files").status_code == 404


def test_a_directory_of_that_name_is_409(api):
    new_drive(api)
    assert api.put("/images/x.img/files/d/f.txt", data=b"x").status_code == 201
    r = api.put("/images/x.img/files/d", data=b"x")
    assert r.status_code == 409 and r.json()["error"]["code"] == "is_a_directory"


def test_inserted_read_write_refuses_reads_and_writes(api):
    new_drive(api)
    assert api.put("/images/x.img/files/a.txt", data=b"x").status_code == 201
    r = api.post("/luns/0/insert", json={"image": "x.img", "cdrom": False, "ro": False})
    assert r.status_code == 200
    r = api.get("/images/x.img/files")
    assert r.status_code == 409 and r.json()["error"]["code"] == "image_writable"
    assert api.get("/images/x.img/files/a.txt").status_code == 409
    r = api.put("/images/x.img/files/b.txt", data=b"y")
    assert r.status_code == 409 and r.json()["error"]["code"] == "image_attached"
    assert api.post("/luns/0/eject").status_code == 200
    assert api.put("/images/x.img/files/b.txt", data=b"y").status_code == 201


def test_inserted_read_only_allows_reads_but_not_writes(api):
    new_drive(api)
    assert api.put("/images/x.img/files/a.txt", data=b"x").status_code == 201
    r = api.post("/luns/0/insert", json={"image": "x.img", "cdrom": False, "ro": True})
    assert r.status_code == 200
    assert api.get("/images/x.img/files/a.txt").content == b"x"
    assert api.put("/images/x.img/files/b.txt", data=b"y").status_code == 409


def test_first_fat_partition_of_an_mbr_disk(api, server, tmp_path):
    disk = tmp_path / "pi.img"
    sectors = (96 << 20) // 512
    mbr = bytearray(512)	# one partition, type 0c (FAT32 LBA), from sector 2048
    mbr[0x1BE:0x1CE] = struct.pack("<B3sB3sII", 0, b"\xfe\xff\xff", 0x0C, b"\xfe\xff\xff",
                                   2048, sectors - 2048)
    mbr[510:512] = b"\x55\xaa"
    with open(disk, "wb") as f:
        f.write(mbr)
        f.truncate(96 << 20)
    subprocess.run(["/usr/sbin/mkfs.fat", "-F", "32", "--offset", "2048", str(disk),
                    str((96 << 10) - 1024)], check=True, stdout=subprocess.DEVNULL)
    with open(disk, "rb") as f:
        assert api.put("/images/pi.img", data=f.read()).status_code == 201
    assert api.put("/images/pi.img/files/config.txt", data=b"dtoverlay=dwc2\n").status_code == 201
    assert mtype(os.path.join(server.storage, "pi.img"), "/config.txt", 1 << 20) == \
        b"dtoverlay=dwc2\n"
    assert [f["name"] for f in api.get("/images/pi.img/files").json()["files"]] == ["config.txt"]


def test_iso9660_is_listed_and_read_but_not_written(api, tmp_path):
    root = tmp_path / "root"
    (root / "EFI" / "BOOT").mkdir(parents=True)
    (root / "EFI" / "BOOT" / "grub.cfg").write_bytes(b"set timeout=1\n")
    (root / "README.TXT").write_bytes(b"hello iso\n")
    iso = tmp_path / "cd.iso"
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-o", str(iso),
                    str(root)], check=True, stderr=subprocess.DEVNULL)
    with open(iso, "rb") as f:
        assert api.put("/images/cd.iso", data=f.read()).status_code == 201
    top = api.get("/images/cd.iso/files").json()
    assert top["filesystem"] == "iso9660"
    assert [(f["name"], f["type"]) for f in top["files"]] == [("EFI", "dir"), ("README.TXT", "file")]
    sub = api.get("/images/cd.iso/files", params={"dir": "/EFI/BOOT"}).json()
    assert [(f["name"], f["size"]) for f in sub["files"]] == [("grub.cfg", 14)]
    assert api.get("/images/cd.iso/files/EFI/BOOT/grub.cfg").content == b"set timeout=1\n"
    r = api.put("/images/cd.iso/files/new.txt", data=b"x")
    assert r.status_code == 400 and r.json()["error"]["code"] == "read_only_filesystem"
    r = api.delete("/images/cd.iso/files/README.TXT")
    assert r.status_code == 400 and r.json()["error"]["code"] == "read_only_filesystem"


def test_a_blank_image_says_why_not(api):
    new_drive(api, name="b.img", size="1M", filesystem="none")
    r = api.get("/images/b.img/files")
    assert r.status_code == 400 and r.json()["error"]["code"] == "no_filesystem"


def mdir_names(image, path="/"):
    """The names in a directory as mtools itself lists them (short or long)."""
    out = subprocess.run(["mdir", "-b", "-i", image, "::" + path], stdout=subprocess.PIPE,
                         check=True, env=MTOOLS_ENV).stdout.decode()
    return sorted(line.rstrip("/").rsplit("/", 1)[-1] for line in out.split())


def test_delete_a_file_removes_only_it_and_rehashes(api, server):
    new_drive(api)
    keep = os.urandom(70000)
    assert api.put("/images/x.img/files/keep.bin", data=keep).status_code == 201
    assert api.put("/images/x.img/files/gone.bin", data=os.urandom(90000)).status_code == 201
    img_path = os.path.join(server.storage, "x.img")
    assert mdir_names(img_path) == ["gone.bin", "keep.bin"]
    r = api.delete("/images/x.img/files/gone.bin")
    assert r.status_code == 204, r.text
    assert mdir_names(img_path) == ["keep.bin"]
    assert mtype(img_path, "/keep.bin") == keep
    assert [f["name"] for f in api.get("/images/x.img/files").json()["files"]] == ["keep.bin"]
    assert api.get("/images/x.img/files/gone.bin").status_code == 404
    with open(img_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert api.get("/images").json()["images"][0]["sha256"] == digest
    assert tmp_files(server) == []


def test_delete_a_directory_only_once_it_is_empty(api, server):
    new_drive(api)
    assert api.put("/images/x.img/files/d/e/f.txt", data=b"x").status_code == 201
    r = api.delete("/images/x.img/files/d")
    assert r.status_code == 409 and r.json()["error"]["code"] == "directory_not_empty"
    assert api.delete("/images/x.img/files/d/e/f.txt").status_code == 204
    assert api.delete("/images/x.img/files/d").status_code == 409
    assert api.delete("/images/x.img/files/d/e").status_code == 204
    assert api.delete("/images/x.img/files/D").status_code == 204	# FAT ignores case
    assert mdir_names(os.path.join(server.storage, "x.img")) == []


def test_delete_of_nothing_is_404_and_of_the_root_400(api):
    new_drive(api)
    r = api.delete("/images/x.img/files/nothing.txt")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert api.delete("/images/x.img/files/no/such/file").status_code == 404
    assert api.delete("/images/nope.img/files/a.txt").status_code == 404
    r = api.delete("/images/x.img/files//")
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_path"


@pytest.mark.parametrize("ro", [False, True])
def test_delete_is_refused_while_inserted_at_all(api, server, ro):
    new_drive(api)
    assert api.put("/images/x.img/files/a.txt", data=b"x").status_code == 201
    assert api.post("/luns/0/insert", json={"image": "x.img", "cdrom": False,
                                            "ro": ro}).status_code == 200
    r = api.delete("/images/x.img/files/a.txt")
    assert r.status_code == 409 and r.json()["error"]["code"] == "image_attached"
    assert mdir_names(os.path.join(server.storage, "x.img")) == ["a.txt"]
    assert api.post("/luns/0/eject").status_code == 200
    assert api.delete("/images/x.img/files/a.txt").status_code == 204
