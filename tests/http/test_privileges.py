"""Root is given up: --user NAME drops to that user with only the
capabilities the backend needs, and --backend configfs will not run as root
without --user or --allow-root."""
import os
import pwd
import subprocess

import pytest

from conftest import VMEDIAD

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture
def nobody_storage(tmpdir_path):
    os.chmod(tmpdir_path, 0o755)	# TemporaryDirectory is 0700: let nobody through
    d = os.path.join(tmpdir_path, "nobody-images")
    os.mkdir(d, 0o700)
    nobody = pwd.getpwnam("nobody")
    os.chown(d, nobody.pw_uid, nobody.pw_gid)
    return d, nobody


def test_user_drops_root_and_every_capability_in_every_thread(make_server, nobody_storage):
    d, nobody = nobody_storage
    srv = make_server(["--user", "nobody"], storage=d)
    tasks = os.listdir("/proc/%d/task" % srv.proc.pid)
    assert len(tasks) > 1
    for tid in tasks:	# capabilities are per thread: every one is checked
        with open("/proc/%d/task/%s/status" % (srv.proc.pid, tid)) as f:
            st = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        assert st["Uid"].split() == [str(nobody.pw_uid)] * 4, st
        assert st["Gid"].split() == [str(nobody.pw_gid)] * 4, st
        for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(st[k], 16) == 0, (k, st[k])
        assert st["NoNewPrivs"] == "1"
    assert "running as user nobody" in srv.log()


def test_it_still_serves_uploads_into_the_users_storage(make_server, nobody_storage):
    d, nobody = nobody_storage
    srv = make_server(["--user", "nobody"], storage=d)
    r = srv.api.put("/images/a.img", data=b"a" * 4096)
    assert r.status_code == 201, r.text
    assert os.stat(os.path.join(d, "a.img")).st_uid == nobody.pw_uid
    assert srv.api.get("/images/a.img").content == b"a" * 4096
    r = srv.api.post("/luns/0/insert", json={"image": "a.img"})
    assert r.status_code == 200, r.text
    assert srv.api.post("/luns/0/eject?force=1").status_code in (200, 202)


def run(args, tmpdir_path):
    return subprocess.run([VMEDIAD, "--storage", os.path.join(tmpdir_path, "s"),
                           "--listen", "127.0.0.1:0"] + args,
                          capture_output=True, text=True, timeout=10)


def test_configfs_as_root_is_refused_without_user_or_allow_root(tmpdir_path):
    out = run(["--backend", "configfs"], tmpdir_path)
    assert out.returncode != 0
    assert "refusing to run as root" in out.stderr and "--user" in out.stderr \
        and "--allow-root" in out.stderr, out.stderr


def test_allow_root_lets_configfs_run_as_root(tmpdir_path):
    # No configfs here: it gets past the check and fails on the gadget.
    out = run(["--backend", "configfs", "--allow-root"], tmpdir_path)
    assert "refusing to run as root" not in out.stderr
    assert "--allow-root: running as root" in out.stderr, out.stderr


def test_configfs_with_user_keeps_dac_override_kill_and_sys_admin_for_nbd(tmpdir_path):
    os.chmod(tmpdir_path, 0o777)
    out = run(["--backend", "configfs", "--user", "nobody"], tmpdir_path)
    assert "running as user nobody" in out.stderr, out.stderr
    assert "only CAP_DAC_OVERRIDE and CAP_KILL (configfs) and CAP_SYS_ADMIN (NBD" \
        in out.stderr, out.stderr


def test_no_stream_drops_sys_admin(tmpdir_path):
    os.chmod(tmpdir_path, 0o777)
    out = run(["--backend", "configfs", "--user", "nobody", "--no-stream"], tmpdir_path)
    assert "running as user nobody" in out.stderr, out.stderr
    assert "only CAP_DAC_OVERRIDE and CAP_KILL (configfs)" in out.stderr, out.stderr
    assert "CAP_SYS_ADMIN" not in out.stderr, out.stderr


def test_sim_as_root_warns_loudly(make_server):
    assert "running as ROOT with every capability" in make_server().log()


def test_an_unknown_user_is_refused(tmpdir_path):
    out = run(["--user", "no-such-user-here"], tmpdir_path)
    assert out.returncode != 0 and "no such user" in out.stderr, out.stderr


def test_remove_gadget_as_root_is_not_refused(tmpdir_path):
    # It serves nothing; without configfs here it fails on the gadget.
    out = run(["--backend", "configfs", "--remove-gadget"], tmpdir_path)
    assert "refusing to run as root" not in out.stderr, out.stderr


def test_user_that_it_already_is_is_fine(tmpdir_path, nobody_storage):
    # As under the unit's User=vmedia with --user vmedia in the shared config.
    d, nobody = nobody_storage
    p = subprocess.Popen(["setpriv", "--reuid", "nobody", "--regid", str(nobody.pw_gid),
                          "--clear-groups", VMEDIAD, "--user", "nobody", "--storage", d,
                          "--listen", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while "listening on" not in line:
            line = p.stderr.readline()
            assert line, "vmediad exited"
            if "already running as that user" in line:
                break
        assert "already running as that user" in line, line
    finally:
        p.terminate()
        p.wait(10)


def test_a_lock_file_left_by_root_is_named_with_the_way_out(tmpdir_path, nobody_storage):
    """vmediad run by hand as root left its lock file; started as another
    user it says which file it cannot open, as whom, and what to do, not
    that another vmediad holds the folder."""
    d, nobody = nobody_storage
    open(os.path.join(d, ".lock"), "w").close()	# root's, 0644
    out = subprocess.run([VMEDIAD, "--storage", d, "--listen", "127.0.0.1:0", "--user", "nobody"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode != 0
    assert "cannot open %s/.lock as uid %d: Permission denied" % (d, nobody.pw_uid) in out.stderr, \
        out.stderr
    assert "chown -R" in out.stderr and "another vmediad" not in out.stderr, out.stderr
