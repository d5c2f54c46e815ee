"""Streaming over sftp:// (nbdkit's ssh plugin) from a real OpenSSH sshd on
loopback, on the sim backend: the image is read back through nbdkit's
socket with nbdcopy and compared; host keys are checked against
--ssh-known-hosts; the login uses --ssh-identity."""
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import free_port
from test_stream import gone, nbdkits

SSHD = "/usr/sbin/sshd"	# openssh-server (tools/deps.sh test)


class Sshd:
    """A throwaway sshd: its own host key, key logins for the user running the
    tests, the sftp subsystem in-process."""

    def __init__(self, work):
        self.work = work
        os.makedirs(work, exist_ok=True)
        self.port = free_port()
        self.hostkey = os.path.join(work, "host_ed25519")
        self.userkey = os.path.join(work, "id_ed25519")
        for k in (self.hostkey, self.userkey):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k], check=True)
        auth = os.path.join(work, "authorized_keys")
        shutil.copy(self.userkey + ".pub", auth)
        self.known_hosts = os.path.join(work, "known_hosts")
        with open(self.hostkey + ".pub") as f:
            kind, key = f.read().split()[:2]
        with open(self.known_hosts, "w") as f:
            f.write("[127.0.0.1]:%d %s %s\n" % (self.port, kind, key))
        conf = os.path.join(work, "sshd_config")
        with open(conf, "w") as f:
            f.write("\n".join([
                "ListenAddress 127.0.0.1:%d" % self.port,
                "HostKey %s" % self.hostkey,
                "AuthorizedKeysFile %s" % auth,
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PermitRootLogin prohibit-password",
                "PidFile %s/sshd.pid" % work,
                "Subsystem sftp internal-sftp",
                ""]))
        os.makedirs("/run/sshd", exist_ok=True)	# sshd's privilege separation dir
        self.log = os.path.join(work, "sshd.log")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", conf], stderr=open(self.log, "w"))
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not start: " + open(self.log).read())

    def url(self, path):
        return "sftp://%s@127.0.0.1:%d%s" % (os.environ.get("USER", "root") if os.geteuid() else "root",
                                            self.port, path)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


@pytest.fixture
def sshd(tmpdir_path):
    s = Sshd(os.path.join(tmpdir_path, "sshd"))
    yield s
    s.stop()


@pytest.fixture
def image(tmpdir_path):
    p = os.path.join(tmpdir_path, "srv", "disk.img")
    os.makedirs(os.path.dirname(p), exist_ok=True)
    data = os.urandom((3 << 20) + 1234)
    with open(p, "wb") as f:
        f.write(data)
    return p, data


def sftp_server(make_server, sshd, *extra):
    return make_server(extra=["--ssh-known-hosts", sshd.known_hosts] + list(extra))


def test_sftp_stream_reads_byte_exact(make_server, sshd, image, tmpdir_path):
    path, data = image
    srv = sftp_server(make_server, sshd, "--ssh-identity", sshd.userkey)
    r = srv.api.post("/luns/0/insert", json={"url": sshd.url(path)})
    assert r.status_code == 200, r.text
    st = r.json()["stream"]
    assert st["transfer_protocol"] == "SFTP" and st["size"] == len(data), st
    assert r.json()["image"] == "disk.img" and r.json()["ro"] is True
    (pid, argv), = nbdkits(srv.storage)
    assert b"ssh" in argv and b"verify-remote-host=true" in argv, argv
    assert ("known-hosts=%s" % sshd.known_hosts).encode() in argv, argv
    # Everything nbdkit serves, read through its socket, is the file.
    sock = [a for a in argv if a.endswith(b".sock")][0].decode()
    out = os.path.join(tmpdir_path, "copy.img")
    subprocess.run(["nbdcopy", "nbd+unix:///?socket=" + sock, out], check=True, timeout=60)
    with open(out, "rb") as f:
        assert f.read() == data
    assert srv.api.post("/luns/0/eject").status_code == 200
    assert gone(srv.storage)


def test_sftp_unknown_host_key_is_refused(make_server, sshd, image, tmpdir_path):
    path, _ = image
    other = os.path.join(tmpdir_path, "other_known_hosts")
    open(other, "w").close()
    srv = make_server(extra=["--ssh-known-hosts", other, "--ssh-identity", sshd.userkey])
    r = srv.api.post("/luns/0/insert", json={"url": sshd.url(path)})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "unknown_host_key", r.text
    assert other in r.json()["error"]["message"]
    assert nbdkits(srv.storage) == []
    assert srv.api.get("/luns/0").json()["state"] == "empty"


def test_sftp_without_a_key_is_a_clear_login_error(make_server, sshd, image):
    path, _ = image
    srv = sftp_server(make_server, sshd)
    r = srv.api.post("/luns/0/insert", json={"url": sshd.url(path)})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "login_denied", r.text
    assert "--ssh-identity" in r.json()["error"]["message"]
    assert nbdkits(srv.storage) == []


def test_sftp_missing_file(make_server, sshd, tmpdir_path):
    srv = sftp_server(make_server, sshd, "--ssh-identity", sshd.userkey)
    r = srv.api.post("/luns/0/insert", json={"url": sshd.url(os.path.join(tmpdir_path, "nope.img"))})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "server_error" and "no such file" in r.json()["error"]["message"]
    assert nbdkits(srv.storage) == []


def test_sftp_password_is_never_shown(make_server, sshd, image):
    """A password in the URL goes to the server (refused here: the sshd takes
    keys only), never to a reply, the log or nbdkit's command line."""
    path, _ = image
    srv = sftp_server(make_server, sshd)
    url = sshd.url(path).replace("@", ":pw-s3cret@", 1)
    r = srv.api.post("/luns/0/insert", json={"url": url})
    assert r.status_code == 422 and r.json()["error"]["code"] == "login_denied", r.text
    assert "pw-s3cret" not in r.text and "pw-s3cret" not in srv.log()
