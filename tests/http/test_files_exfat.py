"""Files inside an exFAT image, read through The Sleuth Kit: the fixture
data/exfat-files.img.xz was written by a real exFAT driver (exfat-fuse; see
data/make-exfat-fixture.sh), and data/exfat-files.sha256 holds what its
files are. Writes are refused: no tool writes exFAT without mounting it."""
import hashlib
import lzma
import os
import struct

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def fixture_bytes():
    with open(os.path.join(DATA, "exfat-files.img.xz"), "rb") as f:
        return lzma.decompress(f.read())


def expected():
    """{path: sha256} of the files the fixture holds."""
    with open(os.path.join(DATA, "exfat-files.sha256")) as f:
        return dict(reversed(line.rstrip("\n").split("  ", 1)) for line in f if line.strip())


def put_fixture(api, name="ex.img", data=None):
    r = api.put("/images/" + name, data=fixture_bytes() if data is None else data)
    assert r.status_code == 201, r.text
    return r.json()


def test_the_files_of_an_exfat_drive_are_listed(api):
    put_fixture(api)
    root = api.get("/images/ex.img/files").json()
    assert root["filesystem"] == "exfat" and root["dir"] == "/"
    # Sorted without case; no deleted entry, none of the volume's own
    # (bitmap, up-case table, label).
    assert [(f["name"], f["type"], f["size"]) for f in root["files"]] == [
        ("big.bin", "file", 70001), ("dir", "dir", 0), ("empty", "dir", 0),
        ("MixedCase.TxT", "file", 5), ("README.TXT", "file", 27),
        ("with space.txt", "file", 30)]
    assert all(f["mtime"] > "2020" for f in root["files"])
    sub = api.get("/images/ex.img/files", params={"dir": "/dir/sub"}).json()
    assert [(f["name"], f["size"]) for f in sub["files"]] == [("a.txt", 6)]
    assert api.get("/images/ex.img/files", params={"dir": "/empty"}).json()["files"] == []


def test_every_file_downloads_byte_exact(api):
    put_fixture(api)
    want = expected()
    for path, digest in want.items():
        if " " in path:
            continue	# listed, but its name breaks the path rules
        r = api.get("/images/ex.img/files/" + path)
        assert r.status_code == 200, (path, r.text)
        assert hashlib.sha256(r.content).hexdigest() == digest, path
    assert len([p for p in want if " " not in p]) == 4


def test_names_match_without_case_as_exfat_does(api):
    put_fixture(api)
    assert api.get("/images/ex.img/files/mixedcase.txt").content == b"case\n"
    assert api.get("/images/ex.img/files/DIR/SUB/A.TXT").content == b"hello\n"
    names = [f["name"] for f in api.get("/images/ex.img/files", params={"dir": "/DIR"}).json()["files"]]
    assert names == ["sub"]


def test_missing_files_directories_and_deleted_ones_are_404(api):
    put_fixture(api)
    for path in ("nothing.txt", "deleted.txt", "dir/nothing", "dir"):
        r = api.get("/images/ex.img/files/" + path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", path
    for d in ("/nothing", "/README.TXT"):
        assert api.get("/images/ex.img/files", params={"dir": d}).status_code == 404


def test_writes_and_deletes_are_refused_with_422_and_change_nothing(api):
    digest = put_fixture(api)["sha256"]
    r = api.put("/images/ex.img/files/new.txt", data=b"x")
    assert r.status_code == 422 and r.json()["error"]["code"] == "unsupported_filesystem"
    assert "FAT32" in r.json()["error"]["message"]
    r = api.delete("/images/ex.img/files/README.TXT")
    assert r.status_code == 422 and r.json()["error"]["code"] == "unsupported_filesystem"
    assert api.get("/images").json()["images"][0]["sha256"] == digest
    assert api.get("/images/ex.img/files/README.TXT").status_code == 200


def test_the_first_exfat_partition_of_an_mbr_disk(api):
    fs = fixture_bytes()
    mbr = bytearray(512)	# one partition, type 07 (exFAT or NTFS), from sector 2048
    mbr[0x1BE:0x1BE + 16] = struct.pack("<B3sB3sII", 0, b"\0\0\0", 0x07, b"\0\0\0",
                                        2048, len(fs) // 512)
    mbr[510:512] = b"\x55\xaa"
    put_fixture(api, "disk.img", bytes(mbr) + bytes(2047 * 512) + fs)
    root = api.get("/images/disk.img/files").json()
    assert root["filesystem"] == "exfat"
    assert "README.TXT" in [f["name"] for f in root["files"]]
    assert api.get("/images/disk.img/files/dir/sub/a.txt").content == b"hello\n"


def test_a_new_exfat_drive_lists_empty(api):
    r = api.post("/images", json={"name": "new.img", "size": "64M", "filesystem": "exfat"})
    assert r.status_code == 201, r.text
    listing = api.get("/images/new.img/files").json()
    assert listing["filesystem"] == "exfat" and listing["files"] == []
