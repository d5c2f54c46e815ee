"""faults.py: disk faults other than a power cut, each on a fresh small ext4
disk in its own VM:
  - the disk fills up in the middle of uploads (507, the partial file gone,
    the other images intact);
  - the file system turns read-only under vmediad, by an ext4 error
    (/sys/fs/ext4/vda/trigger_fs_error) and by write errors of the disk (nbdkit's error filter: EIO, and ext4's
    errors=remount-ro), with clear errors, no crash and the API answering;
  - a very slow disk (nbdkit's delay filter, 1 s per write request, so an
    fsync takes seconds): listings and LUN operations still answer quickly."""
import os
import random
import threading
import time

import vm as vmmod
from origin import Origin

FAST_S = 1.0	# "answers quickly": under TCG on a loaded 2-core host


def _error_code(reply):
    return reply.get("error", {}).get("code") if isinstance(reply, dict) else None


def _boot(work, kernel, new_disk, name, size, nbd=False, filters=()):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    disk = os.path.join(d, "disk.img")
    new_disk(disk, size)
    v = vmmod.VM(d, kernel, disk, nbd=nbd, nbd_filters=filters)
    v.start()
    v.ready()
    return v


def _put(v, name, data, chunked=False, query=""):
    body = data
    if chunked:
        body = (data[i:i + 65536] for i in range(0, len(data), 65536))
    return v.api("PUT", "/images/%s%s" % (name, query), body=body, chunked=chunked, timeout=180)


def _intact(v, name, data, problems):
    """name is listed complete and reads back byte-exact."""
    status, body = v.api("GET", "/images/" + name, timeout=120)
    if status != 200 or body != data:
        problems.append("%s does not read back byte-exact (%s, %d bytes)"
                        % (name, status, len(body) if isinstance(body, bytes) else -1))


def _clean(v, problems, allow=()):
    """No temporary file left, nothing partial listed."""
    left = [p for p in v.files() if p.startswith(".tmp/")]
    if left:
        problems.append("left in .tmp: %s" % ", ".join(left))
    status, reply = v.api("GET", "/images")
    partial = [i["name"] for i in reply["images"] if not i["complete"] and i["name"] not in allow]
    if partial:
        problems.append("listed incomplete: %s" % ", ".join(partial))
    return {i["name"]: i for i in reply["images"]}


def _alive(v, problems):
    if v.agent("alive")[0] != "alive":
        problems.append("vmediad has exited: " + " | ".join(v.agent("log")[-10:]))


def disk_full(work, kernel, new_disk):
    problems = []
    rng = random.Random(20)
    v = _boot(work, kernel, new_disk, "full", "64M")
    try:
        a = rng.randbytes(3 << 20)
        status, _ = _put(v, "a.img", a)
        if status != 201:
            problems.append("PUT a.img: %s" % status)
        _, st = v.api("GET", "/status")
        free0 = st["storage"]["free_bytes"]
        # Two chunked uploads at once, each larger than what is free:
        # neither can know its size, both must stop with 507.
        big = rng.randbytes(40 << 20)
        out = {}
        ts = [threading.Thread(target=lambda n=n: out.__setitem__(n, _put(v, n, big, True)))
              for n in ("big1.img", "big2.img")]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for n, (status, reply) in sorted(out.items()):
            if status != 507 or _error_code(reply) != "insufficient_storage":
                problems.append("chunked %s on a full disk: want 507 insufficient_storage, got "
                                "%s %s" % (n, status, reply))
        # The kernel's own ENOSPC: the disk is filled behind vmediad's back
        # while an upload streams.
        stop = threading.Event()
        res = {}

        def slow_body():
            for i in range(0, 24 << 20, 65536):
                if i == 4 << 20:
                    v.agent("fill")
                yield big[i:i + 65536]
        t = threading.Thread(target=lambda: res.update(r=v.api(
            "PUT", "/images/c.img", body=slow_body(), chunked=True, timeout=180)))
        t.start()
        t.join(200)
        stop.set()
        status, reply = res.get("r", (None, None))
        if status != 507 or _error_code(reply) != "insufficient_storage":
            problems.append("upload while the disk fills: want 507 insufficient_storage, got "
                            "%s %s" % (status, reply))
        v.agent("unfill")
        images = _clean(v, problems)
        if set(images) != {"a.img"}:
            problems.append("listed after the failed uploads: %s" % sorted(images))
        _intact(v, "a.img", a, problems)
        _, st = v.api("GET", "/status")
        if abs(st["storage"]["free_bytes"] - free0) > (1 << 20):
            problems.append("free space %d after the failed uploads, %d before: the partial "
                            "data was not removed" % (st["storage"]["free_bytes"], free0))
        status, _ = _put(v, "d.img", a[:1 << 20])
        if status != 201:
            problems.append("PUT after freeing space: %s" % status)
        _alive(v, problems)
    finally:
        v.cut()
    return problems


def _read_only_checks(v, a, problems, how):
    status, reply = _put(v, "b.img", a)
    message = reply.get("error", {}).get("message", "") if isinstance(reply, dict) else ""
    if status != 500 or _error_code(reply) != "io_error" or \
            not any(w in message for w in ("Read-only", "Input/output")):
        problems.append("%s: PUT b.img: want 500 io_error naming the cause, got %s %s"
                        % (how, status, reply))
    if how == "read-only":
        status, reply = v.api("DELETE", "/images/a.img")
        if status != 500 or _error_code(reply) != "io_error":
            problems.append("%s: DELETE a.img: want 500 io_error, got %s %s" % (how, status, reply))
    else:	# with EIO the unlink itself works, in memory; the disk cannot confirm it
        status, reply = v.api("DELETE", "/images/c.img")
        message = reply.get("error", {}).get("message", "") if isinstance(reply, dict) else ""
        if status != 500 or _error_code(reply) != "io_error" or "may be back" not in message:
            problems.append("%s: DELETE c.img: want 500 io_error saying it may be back, got "
                            "%s %s" % (how, status, reply))
    t0 = time.monotonic()
    for path in ("/status", "/images", "/luns", "/downloads"):
        status, _ = v.api("GET", path)
        if status != 200:
            problems.append("%s: GET %s: %s" % (how, path, status))
    if time.monotonic() - t0 > 4 * FAST_S:
        problems.append("%s: the GETs took %.1f s" % (how, time.monotonic() - t0))
    status, reply = v.api("POST", "/luns/0/insert", body={"image": "a.img"})
    if status != 200:
        problems.append("%s: insert a.img: %s %s" % (how, status, reply))
    status, reply = v.api("POST", "/luns/0/eject")
    if status != 200:
        problems.append("%s: eject: %s %s" % (how, status, reply))
    _intact(v, "a.img", a, problems)
    _alive(v, problems)


def read_only(work, kernel, new_disk):
    problems = []
    rng = random.Random(21)
    a = rng.randbytes(2 << 20)
    v = _boot(work, kernel, new_disk, "ro", "64M")
    try:
        if _put(v, "a.img", a)[0] != 201:
            problems.append("PUT a.img failed")
        out = v.agent("fs-error")
        if out[-1] != "END 0":
            problems.append("the disk did not turn read-only: %s" % out)
        _read_only_checks(v, a, problems, "read-only")
    finally:
        v.cut()
    _reboot_holds(v, a, problems)
    return problems


def _reboot_holds(v, a, problems, maybe=None):
    """The next boot on the same disk: a.img, nothing else (but the images
    of maybe, {name: data}, whose delete the disk did not confirm, byte-exact
    if they are back), nothing left over."""
    v.start()
    try:
        v.ready()
        images = _clean(v, problems)
        back = set(images) - {"a.img"}
        if "a.img" not in images or back - set(maybe or {}):
            problems.append("after the reboot: %s listed" % sorted(images))
        _intact(v, "a.img", a, problems)
        for name in sorted(back & set(maybe or {})):
            _intact(v, name, maybe[name], problems)
    except RuntimeError as e:
        problems.append("after the fault vmediad did not start: %s" % e)
    finally:
        v.cut()


def write_errors(work, kernel, new_disk):
    problems = []
    rng = random.Random(22)
    a = rng.randbytes(2 << 20)
    d = os.path.join(work, "eio")
    trigger = os.path.join(d, "inject")
    os.makedirs(d, exist_ok=True)
    filt = ":".join(["error", "error=EIO"] + ["error-%s-rate=100%%:error-%s-file=%s" % (op, op, trigger)
                                          for op in ("pwrite", "zero", "trim")])
    c = rng.randbytes(64 << 10)
    v = _boot(work, kernel, new_disk, "eio", "64M", nbd=True, filters=[filt])
    try:
        if _put(v, "a.img", a)[0] != 201 or _put(v, "c.img", c)[0] != 201:
            problems.append("PUT a.img or c.img failed")
        open(trigger, "w").close()	# every write of the disk fails from now on
        _read_only_checks(v, a, problems, "EIO")
    finally:
        v.cut()
    os.unlink(trigger)
    _reboot_holds(v, a, problems, maybe={"c.img": c})
    return problems


def slow_disk(work, kernel, new_disk):
    problems = []
    rng = random.Random(23)
    a = rng.randbytes(1 << 20)
    v = _boot(work, kernel, new_disk, "slow", "64M", nbd=True, filters=["delay:delay-write=1"])
    try:
        if _put(v, "a.img", a)[0] != 201:
            problems.append("PUT a.img failed")
        res = {}
        t0 = time.monotonic()
        t = threading.Thread(target=lambda: res.update(r=_put(v, "b.img", rng.randbytes(4 << 20))))
        t.start()
        time.sleep(0.5)
        worst = (0, "")
        rounds = 0
        while t.is_alive() and rounds < 20:
            for method, path, body in (("GET", "/images", None), ("GET", "/luns", None),
                                       ("GET", "/status", None),
                                       ("POST", "/luns/0/insert", {"image": "a.img"}),
                                       ("GET", "/luns/0", None), ("POST", "/luns/0/eject", None)):
                s0 = time.monotonic()
                status, reply = v.api(method, path, body=body)
                took = time.monotonic() - s0
                if status != 200:
                    problems.append("%s %s during a slow fsync: %s %s" % (method, path, status,
                                                                         reply))
                worst = max(worst, (took, "%s %s" % (method, path)))
            rounds += 1
        t.join(300)
        upload_s = time.monotonic() - t0
        status = res.get("r", (None,))[0]
        if status != 201:
            problems.append("the upload on the slow disk: %s" % (res.get("r"),))
        if upload_s < 2:
            problems.append("the upload took %.1f s: the disk was not slow" % upload_s)
        if rounds == 0:
            problems.append("the upload ended before anything was asked")
        if worst[0] > FAST_S:
            problems.append("%s took %.2f s while an upload waited %.1f s for the disk"
                            % (worst[1], worst[0], upload_s))
        print("crash-figures slow disk: upload of 4 MiB %.1f s; %d rounds of 6 requests, the "
              "slowest %s %.0f ms" % (upload_s, rounds, worst[1], worst[0] * 1000), flush=True)
    finally:
        v.cut()
    return problems


def acked_then_cut(work, kernel, new_disk):
    """The power goes one second after a 201, a 204 (delete) and a 202, with nothing else
    written in between (ext4 alone commits only every 5 s; the download's
    server is not up yet, so the job only waits to retry), behind the cache
    that drops unflushed writes: both must be there after the reboot, and
    the download, its server up now, ends byte-exact."""
    problems = []
    rng = random.Random(24)
    a = rng.randbytes((1 << 20) + 123)
    src = rng.randbytes(384 << 10)
    d = os.path.join(work, "acked")
    os.makedirs(d, exist_ok=True)
    port = vmmod.free_port()
    v = _boot(work, kernel, new_disk, "acked", "64M", nbd=True)
    origin = None
    try:
        status, reply = _put(v, "b.img", a[:4096])
        if status != 201:
            problems.append("PUT b.img: %s %s" % (status, reply))
        status, reply = _put(v, "a.img", a)
        if status != 201:
            problems.append("PUT a.img: %s %s" % (status, reply))
        status, reply = v.api("DELETE", "/images/b.img")
        if status != 204:
            problems.append("DELETE b.img: %s %s" % (status, reply))
        status, job = v.api("POST", "/downloads", body={
            "url": "http://10.0.2.2:%d/src.bin" % port, "name": "dl.img"})
        accepted = status == 202
        if not accepted:
            problems.append("POST /downloads: %s %s" % (status, job))
        time.sleep(1)
        v.cut()
        origin = Origin(d, port=port)
        origin.add("src.bin", src)
        v.start()
        v.ready()
        _intact(v, "a.img", a, problems)
        status, reply = v.api("GET", "/images")
        if any(i["name"] == "b.img" for i in reply["images"]):
            problems.append("b.img, deleted (204) before the cut, is back")
        status, reply = v.api("GET", "/downloads")
        ids = [j["id"] for j in reply.get("downloads", [])]
        if not accepted or job.get("id") not in ids:
            problems.append("download %s, accepted with 202, is not listed after the cut: %s"
                            % (job.get("id"), reply))
        else:
            end = time.monotonic() + 120
            while time.monotonic() < end:
                status, j = v.api("GET", "/downloads/%d" % job["id"])
                if j.get("state") not in ("queued", "running"):
                    break
                time.sleep(1)
            if j.get("state") != "done":
                problems.append("the download ended %s" % j)
            else:
                _intact(v, "dl.img", src, problems)
        _clean(v, problems)
    finally:
        v.cut()
        if origin:
            origin.stop()
    return problems


def stored_then_cut(work, kernel, new_disk):
    """The power goes the moment a download's image is listed (renamed into
    place, the folder synced) and before its job file says done, which the
    slow disk (1 s per write) makes take a second or more: after the boot the
    job is done, not failed with "image exists", and the image byte-exact."""
    problems = []
    src = random.Random(25).randbytes((256 << 10) + 7)
    d = os.path.join(work, "stored")
    os.makedirs(d, exist_ok=True)
    origin = Origin(d)
    url = origin.add("src.bin", src)
    v = _boot(work, kernel, new_disk, "stored", "64M", nbd=True, filters=["delay:delay-write=1"])
    try:
        status, job = v.api("POST", "/downloads", body={"url": url, "name": "dl.img"})
        if status != 202:
            raise RuntimeError("POST /downloads: %s %s" % (status, job))
        end = time.monotonic() + 120
        while time.monotonic() < end:
            status, reply = v.api("GET", "/images")
            if any(i["name"] == "dl.img" and i["complete"] for i in reply["images"]):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("dl.img not listed after 120 s")
        v.cut()
        v.nbd_filters = []
        v.start()
        v.ready()
        end = time.monotonic() + 60
        while time.monotonic() < end:
            status, j = v.api("GET", "/downloads/%d" % job["id"])
            if j.get("state") not in ("queued", "running"):
                break
            time.sleep(0.5)
        if j.get("state") != "done":
            problems.append("after the cut the download ended %s" % j)
        _intact(v, "dl.img", src, problems)
        _clean(v, problems)
    finally:
        v.cut()
        origin.stop()
    return problems


# (name, test(work, kernel, new_disk) -> problems), each in a VM of its own.
TESTS = [("cut 1 s after a 201, a delete and a 202", acked_then_cut),
         ("cut after a download is stored, before its job says so", stored_then_cut),
         ("fault: disk full mid-upload", disk_full),
         ("fault: the file system turns read-only (ext4 error)", read_only),
         ("fault: disk write errors (EIO)", write_errors),
         ("fault: slow disk (1 s per write)", slow_disk)]
