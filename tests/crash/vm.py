"""vm.py: one power-cut test VM: QEMU (TCG) with the vm bench's kernel, the
build host's / over 9p as root, tests/crash/guest.sh as the scenario, and the
image disk /dev/vda, either the disk file itself (QEMU writes into the host's
page cache, which survives the kill: the disk keeps everything the guest
wrote) or the file behind nbdkit's cache filter in writeback mode (writes
reach the file only when the guest flushes; killing nbdkit drops the rest,
as a power cut drops a disk's volatile cache)."""
import http.client
import json
import os
import signal
import socket
import subprocess
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Every QEMU, nbdkit and nginx started, for kill_all() when the run stops.
CHILDREN = []


def spawn(cmd, **kw):
    p = subprocess.Popen(cmd, **kw)
    CHILDREN.append(p)
    return p


def kill_all():
    """The run is over or stopped: nothing it started stays behind."""
    for p in CHILDREN:
        if p.poll() is None:
            p.kill()
            p.wait()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kernel_image():
    """The cached 6.1 patched bzImage (build-kernel.sh prints its path)."""
    out = subprocess.run([os.path.join(ROOT, "tests/vm/build-kernel.sh"), "6.1", "patched"],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def tsc_args():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    khz = int(float(line.split(":")[1]) * 1000)
                    return "tsc=reliable tsc_early_khz=%d" % khz
    except OSError:
        pass
    return ""


class VM:
    """start() boots, ready() waits for vmediad, cut() is the power cut."""

    def __init__(self, work, kernel, disk, nbd=False, nbd_filters=(), mode="run",
                 vmediad_args="--max-uploads,16"):
        self.work, self.kernel, self.disk = work, kernel, disk
        self.nbd, self.nbd_filters, self.mode = nbd, list(nbd_filters), mode
        self.vmediad_args = vmediad_args
        self.qemu = self.nbdkit = None
        self.boots = 0

    def start(self):
        self.boots += 1
        self.api_port, self.agent_port = free_port(), free_port()
        self.console = os.path.join(self.work, "console-%d.log" % self.boots)
        for old in (self.console, self.console + ".qemu", self.console + ".nbdkit"):
            if os.path.exists(old):
                os.unlink(old)
        drive = "file=%s,format=raw,if=virtio" % self.disk
        if self.nbd:
            sock = os.path.join(self.work, "nbd.sock")
            if os.path.exists(sock):
                os.unlink(sock)
            cache_tmp = os.path.join(self.work, "nbdkit-tmp")
            os.makedirs(cache_tmp, exist_ok=True)
            filters = ["--filter=" + f.split(":")[0] for f in self.nbd_filters]
            params = [p for f in self.nbd_filters for p in f.split(":")[1:]]
            # The cache filter is the one next to the plugin: the error and
            # delay filters sit above it, between the guest and the cache.
            cmd = ["nbdkit", "-f", "-U", sock] + filters + ["--filter=cache", "file",
                   self.disk, "cache=writeback", "cache-min-block-size=4096"] + params
            self.nbdkit = spawn(cmd, env=dict(os.environ, TMPDIR=cache_tmp),
                                           stdout=open(self.console + ".nbdkit", "w"),
                                           stderr=subprocess.STDOUT)
            for _ in range(100):
                if os.path.exists(sock):
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError("nbdkit did not create %s" % sock)
            drive = "file=nbd:unix:%s,format=raw,if=virtio" % sock
        append = ("root=/dev/root rootfstype=9p rootflags=trans=virtio,version=9p2000.L ro "
                  "init=%s/tests/vm/guest/init.sh console=ttyS0 panic=-1 loglevel=4 "
                  "no_timer_check %s vmtest.scenario=../crash/guest vmtest.kernel=6.1 "
                  "crash_mode=%s" % (ROOT, tsc_args(), self.mode))
        # CRASH_VMEDIAD: another build of vmediad (to show that the test
        # finds a durability bug planted in one).
        append += " crash_vmediad=" + os.environ.get("CRASH_VMEDIAD",
                                                      os.path.join(ROOT, "build", "vmediad"))
        if self.vmediad_args:
            append += " crash_vmediad_args=" + self.vmediad_args
        cmd = ["qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-smp", "1",
               "-display", "none", "-no-reboot", "-monitor", "none",
               "-serial", "file:" + self.console, "-kernel", self.kernel, "-append", append,
               "-fsdev", "local,id=root,path=/,security_model=none,readonly=on,multidevs=remap",
               "-device", "virtio-9p-pci,fsdev=root,mount_tag=/dev/root",
               "-drive", drive,
               "-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:%d-:8080,hostfwd=tcp:127.0.0.1:%d-:8081"
               % (self.api_port, self.agent_port),
               "-device", "virtio-net-pci,netdev=n0"]
        self.qemu = spawn(cmd, stdin=subprocess.DEVNULL,
                                     stdout=open(self.console + ".qemu", "w"),
                                     stderr=subprocess.STDOUT)

    def console_text(self):
        try:
            with open(self.console, errors="replace") as f:
                return f.read().replace("\r", "")
        except OSError:
            return ""

    def wait_console(self, word, timeout):
        """Waits for a CRASH-WORD line; a CRASH-FATAL line raises."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            text = self.console_text()
            for line in text.splitlines():
                if line.startswith("CRASH-FATAL"):
                    logs = [l for l in text.splitlines() if l.startswith("CRASH-LOG")]
                    raise RuntimeError(line + "\n" + "\n".join(logs[-20:]))
                if line.startswith("CRASH-" + word):
                    return
            if self.qemu.poll() is not None:
                raise RuntimeError("QEMU exited (%s) before CRASH-%s; console: %s"
                                   % (self.qemu.returncode, word, text[-2000:]))
            time.sleep(0.1)
        raise RuntimeError("no CRASH-%s after %d s; console: %s"
                           % (word, timeout, self.console_text()[-2000:]))

    def ready(self, timeout=120):
        self.wait_console("READY", timeout)

    def cut(self):
        """The power cut: the disk's cache (nbdkit) and the machine at once."""
        for p in (self.nbdkit, self.qemu):
            if p and p.poll() is None:
                p.send_signal(signal.SIGKILL)
        for p in (self.nbdkit, self.qemu):
            if p:
                p.wait()
        self.qemu = self.nbdkit = None

    # --- talking to the guest ---------------------------------------------

    def api(self, method, path, body=None, headers=None, timeout=30, chunked=False):
        """(status, parsed JSON or raw bytes) of one request to vmediad; a
        generator body with chunked=True goes out chunked."""
        c = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=timeout)
        try:
            h = dict(headers or {})
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                h["Content-Type"] = "application/json"
            c.request(method, path, body=body, headers=h, encode_chunked=chunked)
            r = c.getresponse()
            data = r.read()
            if r.getheader("Content-Type", "").startswith("application/json"):
                return r.status, json.loads(data or b"null")
            return r.status, data
        finally:
            c.close()

    def agent(self, command, timeout=60):
        """The lines the guest's agent answers to COMMAND (up to END)."""
        end = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.agent_port), timeout=timeout) as s:
                    s.sendall(command.encode() + b"\n")
                    data = b""
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                lines = data.decode(errors="replace").splitlines()
                if lines and lines[-1].startswith("END"):
                    return lines
            except OSError:
                pass
            if time.monotonic() > end:
                raise RuntimeError("the guest's agent does not answer %r" % command)
            time.sleep(0.2)

    def files(self):
        """{path: (size, sha256 or None)} of the image folder, as the guest sees it."""
        out = {}
        for line in self.agent("files"):
            parts = line.split(" ", 3)
            if len(parts) == 4 and parts[0] in ("F", "X") and parts[1].isdigit():
                out[parts[3]] = (int(parts[1]), None if parts[2] == "-" else parts[2])
        return out
