"""make install puts everything where the unit and the example config say."""
import json
import os
import re
import subprocess

from conftest import ROOT, VMEDIAD



def _install_split(tmpdir_path):
    """make install with the prefix, /etc and the unit folder apart; returns
    the folder that holds the three."""
    base = os.path.join(tmpdir_path, "inst")
    out = subprocess.run(["make", "-C", ROOT, "--no-print-directory", "install",
                          "PREFIX=" + base + "/prefix", "SYSCONFDIR=" + base + "/etc",
                          "UNITDIR=" + base + "/unit"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return base

def test_make_install_into_destdir(tmpdir_path):
    dest = os.path.join(tmpdir_path, "root")
    out = subprocess.run(["make", "-C", ROOT, "--no-print-directory", "install",
                          "DESTDIR=" + dest, "PREFIX=/usr"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    binary = os.path.join(dest, "usr/bin/vmediad")
    assert os.access(binary, os.X_OK)
    unit = open(os.path.join(dest, "lib/systemd/system/vmediad.service")).read()
    assert "ExecStart=/usr/bin/vmediad --config /etc/vmedia/vmediad.json" in unit
    assert "User=vmedia" in unit and "ProtectSystem=strict" in unit
    assert "Type=notify" in unit.splitlines() and "WatchdogSec=30" in unit.splitlines()
    assert "@PREFIX@" not in unit
    example = os.path.join(dest, "etc/vmedia/vmediad.json.example")
    cfg = json.load(open(example))
    assert "web" not in cfg	# the UI is in the binary
    # The example is a configuration vmediad accepts (checked without
    # starting: --help after --config parses the file first).
    out = subprocess.run([binary, "--config", example, "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_the_systemd_unit_verifies(tmpdir_path):
    base = _install_split(tmpdir_path)
    out = subprocess.run(["systemd-analyze", "verify", base + "/unit/vmediad.service"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stderr.strip() == "", out.stderr


def test_the_unit_is_sandboxed(tmpdir_path):
    """The hardening of issue 18, and systemd's own score of it (the README
    quotes it): 2.0 when this was written, 3.9 before."""
    base = _install_split(tmpdir_path)
    path = base + "/unit/vmediad.service"
    unit = open(path).read().splitlines()
    for line in ("SystemCallFilter=@system-service", "ProtectKernelLogs=yes", "PrivateMounts=yes",
                 "RemoveIPC=yes", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "CapabilityBoundingSet=CAP_DAC_OVERRIDE CAP_KILL",
                 "ReadWritePaths=/var/lib/vmedia /sys/kernel/config/usb_gadget"):
        assert line in unit, line
    out = subprocess.run(["systemd-analyze", "security", "--offline=true", path],
                         capture_output=True, text=True)
    m = re.search(r"Overall exposure level for vmediad.service: (\d+\.\d+)", out.stdout)
    assert m, out.stdout + out.stderr
    assert float(m.group(1)) <= 2.5, out.stdout


def _make_install(dest):
    out = subprocess.run(["make", "-C", ROOT, "--no-print-directory", "install",
                          "DESTDIR=" + dest, "PREFIX=/usr"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return os.path.join(dest, "usr/share/man/man8/vmediad.8")


def test_version_names_the_release_of_the_makefile():
    out = subprocess.run([VMEDIAD, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr == ""
    version = re.search(r"^VERSION := (\S+)$", open(os.path.join(ROOT, "Makefile")).read(), re.M)
    assert out.stdout == "vmediad %s\n" % version.group(1)


def test_the_man_page_has_every_option_of_help(tmpdir_path):
    page = _make_install(os.path.join(tmpdir_path, "root"))
    man = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True,
                         env=dict(os.environ, MANWIDTH="200"))
    assert man.returncode == 0 and man.stderr == "", man.stderr
    helptext = subprocess.run([VMEDIAD, "--help"], capture_output=True, text=True).stdout
    options = re.findall(r"^  (--[a-z-]+)", helptext, re.M)
    assert len(options) > 40
    manopts = re.findall(r"^       (--[a-z-]+)", man.stdout, re.M)
    assert manopts == options
    # The same words and the same defaults as --help.
    flat = " ".join(man.stdout.replace("\u2010\n", "").split())
    for line in re.findall(r"^  --max-image-size.*$|^  --storage.*$", helptext, re.M):
        words = " ".join(line.split()[2:])
        assert words in flat, words
    first = man.stdout.splitlines()[0]
    assert first.split() == ["VMEDIAD(8)", "System", "Administration", "VMEDIAD(8)"]


def test_the_stream_drop_in_adds_what_streaming_needs_to_the_unit(tmpdir_path):
    """dist/vmediad-stream.conf, installed as an example: beside the unit in
    a drop-in folder, systemd merges it (checked offline: systemd is not
    running here) into a unit that may use CAP_SYS_ADMIN, netlink and
    /dev/nbd*, and the unit alone may not."""
    base = _install_split(tmpdir_path)
    example = base + "/prefix/share/doc/vmedia/examples/vmediad-stream.conf"
    unit = base + "/unit/vmediad.service"

    def security():
        out = subprocess.run(["systemd-analyze", "security", "--offline=true", unit],
                             capture_output=True, text=True,
                             env=dict(os.environ, SYSTEMD_UNIT_PATH=base + "/unit:"))
        assert "Overall exposure level" in out.stdout, out.stdout + out.stderr
        return {line.split()[1]: line.split()[0] for line in out.stdout.splitlines()
                if line.split() and line.split()[0] in ("✓", "✗")}

    alone = security()
    os.mkdir(base + "/unit/vmediad.service.d")
    with open(example) as src, open(base + "/unit/vmediad.service.d/stream.conf", "w") as dst:
        dst.write(src.read())
    out = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                         env=dict(os.environ, SYSTEMD_UNIT_PATH=base + "/unit:"))
    assert out.returncode == 0 and out.stderr.strip() == "", out.stdout + out.stderr
    merged = security()
    for what in ("CapabilityBoundingSet=~CAP_SYS_ADMIN", "RestrictAddressFamilies=~AF_NETLINK",
                 "PrivateDevices="):
        assert alone[what] == "✓" and merged[what] == "✗", (what, alone.get(what), merged.get(what))
