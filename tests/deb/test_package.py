"""The Debian package (make deb), installed for real with dpkg on this
machine: the user, the directories, the conffile, the unit as systemd sees
it, the installed binary started once, then remove, purge and reinstall.
VMEDIA_DEB names the .deb (tools/test.sh deb builds it)."""
import glob
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import time

import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ARCH = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                      text=True).stdout.strip()
DEB = os.environ.get("VMEDIA_DEB") or next(iter(sorted(
    glob.glob(os.path.join(ROOT, "build", "deb", "vmedia_*_%s.deb" % ARCH)))), None)
CONF = "/etc/vmedia/vmediad.json"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="dpkg -i needs root")


def dpkg(*args):
    out = subprocess.run(["dpkg"] + list(args), capture_output=True, text=True,
                         env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def status():
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "vmedia"], capture_output=True,
                         text=True)
    return out.stdout if out.returncode == 0 else "not-installed"


@pytest.fixture(scope="module")
def installed():
    assert DEB and os.path.isfile(DEB), "no .deb: run make deb"
    assert status() in ("not-installed", "unknown ok not-installed"), \
        "vmedia is already installed on this machine (%s); not touching it" % status()
    # A first install: whatever an earlier run left there (the images of
    # vmediad started by hand as root, say) is kept aside, and put back.
    aside = None
    if os.path.lexists("/var/lib/vmedia"):
        aside = "/var/lib/vmedia.before-test-%d" % os.getpid()
        os.rename("/var/lib/vmedia", aside)
    dpkg("-i", DEB)
    yield
    subprocess.run(["dpkg", "-P", "vmedia"], capture_output=True)
    if aside:
        shutil.rmtree("/var/lib/vmedia", ignore_errors=True)
        os.rename(aside, "/var/lib/vmedia")


def test_install_makes_the_system_user_and_its_directories(installed):
    assert status() == "install ok installed"
    user = pwd.getpwnam("vmedia")
    assert user.pw_uid < 1000 and user.pw_dir == "/var/lib/vmedia"
    assert user.pw_shell in ("/usr/sbin/nologin", "/bin/false")
    assert grp.getgrgid(user.pw_gid).gr_name == "vmedia"
    st = os.stat("/var/lib/vmedia/images")
    assert st.st_uid == user.pw_uid and stat.S_IMODE(st.st_mode) == 0o750
    st = os.stat("/etc/vmedia")
    assert st.st_uid == 0 and st.st_gid == user.pw_gid and stat.S_IMODE(st.st_mode) == 0o750


def test_the_configuration_is_a_conffile_and_the_man_page_is_there(installed):
    conffiles = subprocess.run(["dpkg-query", "-W", "-f=${Conffiles}", "vmedia"],
                               capture_output=True, text=True).stdout
    assert re.search(r"^ %s [0-9a-f]{32}$" % CONF, conffiles, re.M), conffiles
    assert subprocess.run(["man", "-w", "8", "vmediad"], capture_output=True,
                          text=True).stdout.strip() == "/usr/share/man/man8/vmediad.8.gz"
    out = subprocess.run(["/usr/bin/vmediad", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("vmediad ")


def test_systemd_verifies_the_installed_unit(installed):
    unit = "/lib/systemd/system/vmediad.service"
    out = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr.strip() == "", out.stdout + out.stderr
    text = open(unit).read()
    assert "ExecStart=/usr/bin/vmediad --config /etc/vmedia/vmediad.json" in text
    assert "Type=notify" in text and "User=vmedia" in text
    # Enabled (dh_installsystemd), not started: it needs credentials first.
    assert os.path.islink("/etc/systemd/system/multi-user.target.wants/vmediad.service")


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_the_installed_binary_serves_as_the_vmedia_user(installed, tmp_path):
    """As the unit would run it, with the package's configuration and
    credentials made as the postinst says; the sim backend, since this
    machine has no UDC."""
    add = subprocess.run(["/usr/bin/vmediad", "--auth-file", "/etc/vmedia/credentials",
                          "--add-user", "admin"], input="correct horse\n",
                         capture_output=True, text=True)
    assert add.returncode == 0, add.stderr
    os.chown("/etc/vmedia/credentials", pwd.getpwnam("vmedia").pw_uid, -1)
    port = _free_port()
    # Abstract, so that vmediad can send to it after it has become vmedia.
    name = "vmedia-deb-test-%d" % os.getpid()
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind("\0" + name)
    notify.settimeout(10)
    log = open(tmp_path / "vmediad.log", "w+")
    p = subprocess.Popen(["/usr/bin/vmediad", "--config", CONF, "--backend", "sim",
                          "--listen", "127.0.0.1:%d" % port, "--user", "vmedia"],
                         stderr=log, stdout=subprocess.DEVNULL,
                         env=dict(os.environ, NOTIFY_SOCKET="@" + name))
    try:
        assert "READY=1" in notify.recv(4096).decode()
        base = "http://127.0.0.1:%d" % port
        auth = ("admin", "correct horse")
        assert requests.get(base + "/status", timeout=5).status_code == 401
        r = requests.get(base + "/", auth=auth, timeout=5)
        assert r.status_code == 200 and "<html" in r.text	# the UI inside the binary
        r = requests.put(base + "/images/t.img", data=b"x" * 4096, auth=auth, timeout=10)
        assert r.status_code == 201, r.text
        st = os.stat("/var/lib/vmedia/images/t.img")
        assert st.st_uid == pwd.getpwnam("vmedia").pw_uid
    finally:
        p.send_signal(signal.SIGTERM)
        code = p.wait(10)
        log.seek(0)
        text = log.read()
    assert code == 0, text
    assert "running as user vmedia" in text, text


def test_remove_keeps_the_configuration_purge_removes_it_reinstall_works(installed):
    with open(CONF) as f:
        original = f.read()
    edited = original.replace('"luns": 2', '"luns": 1')
    assert edited != original
    with open(CONF, "w") as f:
        f.write(edited)
    dpkg("-r", "vmedia")
    assert status() == "deinstall ok config-files"
    assert not os.path.exists("/usr/bin/vmediad")
    assert open(CONF).read() == edited
    dpkg("-i", DEB)	# over the kept configuration: the edit survives
    assert status() == "install ok installed"
    assert open(CONF).read() == edited
    dpkg("-P", "vmedia")
    assert status() in ("not-installed", "unknown ok not-installed")
    for path in ("/etc/vmedia", "/var/lib/vmedia", "/usr/bin/vmediad",
                 "/lib/systemd/system/vmediad.service",
                 "/etc/systemd/system/multi-user.target.wants/vmediad.service"):
        assert not os.path.lexists(path), path
    pwd.getpwnam("vmedia")	# the user stays: its uid may own files elsewhere
    dpkg("-i", DEB)	# after a purge: the package's own configuration again
    assert status() == "install ok installed"
    assert open(CONF).read() == original
    assert os.path.isdir("/var/lib/vmedia/images")
