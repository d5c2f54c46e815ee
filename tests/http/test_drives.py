"""New empty drives (POST /images): sparse, formatted by the real mkfs.fat
and mkfs.exfat, checked by the real fsck and label tools."""
import hashlib
import os
import subprocess

import pytest

from test_images import tmp_files


def create(api, **body):
    return api.post("/images", json=body)


def path(server, name):
    return os.path.join(server.storage, name)


def fsck(tool, image):
    return subprocess.run([tool, "-n", image], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def label(tool, image):
    return subprocess.run([tool, image], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True, check=True).stdout.strip()


def test_fat32_drive_is_sparse_formatted_and_labelled(api, server):
    r = create(api, name="xchg.img", size="256M", filesystem="fat32", label="xchg")
    assert r.status_code == 201, r.text
    img = r.json()
    assert img["name"] == "xchg.img" and img["size"] == 256 << 20
    assert img["source"] == "new fat32 drive"
    st = os.stat(path(server, "xchg.img"))
    assert st.st_size == 256 << 20 and st.st_blocks * 512 < 8 << 20	# sparse
    check = fsck("fsck.fat", path(server, "xchg.img"))
    assert check.returncode == 0, check.stdout
    assert "FAT (32 bit)" in subprocess.run(["file", "-b", path(server, "xchg.img")],
                                            stdout=subprocess.PIPE, text=True).stdout
    assert label("fatlabel", path(server, "xchg.img")) == "XCHG"
    with open(path(server, "xchg.img"), "rb") as f:
        assert img["sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert tmp_files(server) == []


def test_exfat_drive_is_formatted_and_labelled(api, server):
    r = create(api, name="ex.img", size=64 << 20, filesystem="exfat", label="Data")
    assert r.status_code == 201, r.text
    check = fsck("fsck.exfat", path(server, "ex.img"))
    assert check.returncode == 0, check.stdout
    assert label("exfatlabel", path(server, "ex.img")).endswith("Data")


def test_blank_drive_is_all_zeros(api, server):
    r = create(api, name="blank.img", size="1M", filesystem="none")
    assert r.status_code == 201
    assert r.json()["sha256"] == hashlib.sha256(b"\0" * (1 << 20)).hexdigest()
    assert r.json()["source"] == "new blank drive"


def test_default_filesystem_is_fat32_labelled_vmedia(api, server):
    assert create(api, name="d.img", size="64M").status_code == 201
    assert label("fatlabel", path(server, "d.img")) == "VMEDIA"


def test_a_new_drive_inserts_read_write(api):
    assert create(api, name="rw.img", size="64M").status_code == 201
    r = api.post("/luns/0/insert", json={"image": "rw.img", "cdrom": False, "ro": False})
    assert r.status_code == 200, r.text
    assert r.json()["ro"] is False


@pytest.mark.parametrize("size", ["8X", "abc", -1, 0, 1000, "1.5", "-8G", "8GG", True, None])
def test_bad_sizes_are_400(api, size):
    r = create(api, name="s.img", size=size, filesystem="none")
    assert r.status_code == 400, size
    assert r.json()["error"]["code"] in ("bad_size", "bad_json")


def test_size_units_are_binary(make_server):
    server = make_server(extra=["--max-image-size", "1G"])
    r = create(server.api, name="big.img", size="8G")
    assert r.status_code == 413
    assert str(8 << 30) in r.json()["error"]["message"]


def test_fat32_below_its_minimum_is_400(api):
    r = create(api, name="tiny.img", size="32M", filesystem="fat32")
    assert r.status_code == 400 and "64 MiB" in r.json()["error"]["message"]


@pytest.mark.parametrize("bad", ["-n x", " lead", "a/b", "x" * 12, "", "é"])
def test_bad_labels_are_400(api, server, bad):
    r = create(api, name="l.img", size="64M", label=bad)
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_label"
    assert api.get("/images").json()["images"] == [] and tmp_files(server) == []


def test_unknown_filesystem_and_bad_name_are_400(api):
    r = create(api, name="f.img", size="64M", filesystem="ntfs")
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_filesystem"
    r = create(api, name="../f.img", size="64M")
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_name"


def test_existing_name_is_409(api):
    assert create(api, name="x.img", size="1M", filesystem="none").status_code == 201
    r = create(api, name="x.img", size="1M", filesystem="none")
    assert r.status_code == 409 and r.json()["error"]["code"] == "image_exists"


def test_a_drive_larger_than_the_free_space_is_507(make_server):
    server = make_server(extra=["--max-image-size", "1000T"])
    r = create(server.api, name="huge.img", size="900T", filesystem="none")
    assert r.status_code == 507
    assert server.api.get("/images").json()["images"] == []
