"""The arm64 and armhf packages (make ARCH=... deb): each holds a binary
for its architecture and depends on that architecture's libraries, as
dpkg-shlibdeps found them. lintian has passed them in make deb already."""
import glob
import os
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MACHINE = {"arm64": "ARM aarch64", "armhf": "ARM, EABI5"}


@pytest.mark.parametrize("arch", ["arm64", "armhf"])
def test_the_cross_package_holds_a_binary_of_its_architecture(arch, tmp_path):
    debs = glob.glob(os.path.join(ROOT, "build", arch, "deb", "vmedia_*_%s.deb" % arch))
    assert len(debs) == 1, "make ARCH=%s deb" % arch
    info = subprocess.run(["dpkg-deb", "-f", debs[0], "Architecture", "Depends"],
                          capture_output=True, text=True, check=True).stdout
    assert "Architecture: %s" % arch in info
    assert "libmicrohttpd12" in info and "libusbgx2" in info and "adduser" in info
    subprocess.run(["dpkg-deb", "-x", debs[0], str(tmp_path)], check=True)
    kind = subprocess.run(["file", "-b", str(tmp_path / "usr/bin/vmediad")],
                          capture_output=True, text=True).stdout
    assert MACHINE[arch] in kind, kind
    assert os.path.isfile(tmp_path / "usr/share/man/man8/vmediad.8.gz")
    assert os.path.isfile(tmp_path / "lib/systemd/system/vmediad.service")
