#!/usr/bin/env python3
"""crash.py: vmediad under power cuts and disk faults, in QEMU (see README.md).

  crash.py [--cuts N] [--disk file|cache|both] [--seed S] [--selftest] [--faults]
           [--jobs J]

Prints "PASS name" or "FAIL name: reason" per test, the figures of the run,
and last "crash: N passed, N failed". Work files in build/crash-work (the
disk images stay there after a failure). The tasks (the cuts of each disk
variant, each self-test and fault test) have a VM, a disk and ports of their
own; J of them (default 3) run at once, the longest first."""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cuts as cutsmod	# noqa: E402
import faults	# noqa: E402
import vm as vmmod	# noqa: E402
from origin import Origin	# noqa: E402

results = []
out_lock = threading.Lock()


def say(line):
    with out_lock:
        print(line, flush=True)


def report(name, problems):
    if problems:
        line = "FAIL %s: %s" % (name, "; ".join(problems)[:2000])
    else:
        line = "PASS " + name
    with out_lock:
        results.append(not problems)
        print(line, flush=True)


def new_disk(path, size="256M"):
    if os.path.exists(path):
        os.unlink(path)
    subprocess.run(["truncate", "-s", size, path], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=0,lazy_journal_init=0",
                    path], check=True)


def selftest(work, kernel, nbd):
    """The cache variant drops what was not flushed: a block written with
    O_DIRECT and no flush is gone from the file after the kill, one followed
    by a flush is there; the plain disk file (the control) keeps both."""
    name = "selftest-%s" % ("cache" if nbd else "file")
    disk = os.path.join(work, name + ".img")
    with open(disk, "wb") as f:
        f.truncate(4 << 20)
    v = vmmod.VM(os.path.join(work, name), kernel, disk, nbd=nbd, mode="selftest")
    os.makedirs(v.work, exist_ok=True)
    problems = []
    try:
        v.start()
        v.wait_console("SELFTEST-WRITTEN", 120)
    except RuntimeError as e:
        problems.append(str(e))
    v.cut()
    with open(disk, "rb") as f:
        a = f.read(4096)
        f.seek(1 << 20)
        b = f.read(4096)
    flushed_kept = b == b"B" * 4096
    unflushed_kept = a == b"A" * 4096
    if not flushed_kept:
        problems.append("the flushed block is not in the file")
    if nbd and unflushed_kept:
        problems.append("the unflushed block reached the file: the cache does not drop it")
    if not nbd and not unflushed_kept:
        problems.append("the plain disk file lost a write the guest made")
    report(name + (": unflushed write dropped, flushed kept" if nbd else
                   ": both writes kept (control)"), problems)


def run_cuts(work, kernel, count, cache, seed):
    label = "cache" if cache else "file"
    rng = random.Random(seed)
    disk = os.path.join(work, "disk-%s.img" % label)
    new_disk(disk)
    origin = Origin(os.path.join(work, label))
    v = vmmod.VM(os.path.join(work, label), kernel, disk, nbd=cache)
    c = cutsmod.Cuts(v, origin, rng, say)
    ok = True
    started = time.monotonic()
    last = None	# the line of the cut before this boot, told once it is checked
    try:
        for i in range(1, count + 2):
            t0 = time.monotonic()
            v.start()
            try:
                v.ready()
            except RuntimeError as e:
                report(last or "%s first boot" % label,
                       ["vmediad did not start after the cut: %s" % e])
                ok = False
                break
            if last:
                problems = c.check()
                report(last, problems)
                ok = ok and not problems
            if i == count + 1:
                problems = [] if c.settle_downloads() else \
                    ["downloads still unfinished after 300 s"]
                problems += c.check()
                v.cut()
                report("%s final boot: every download ended byte-exact, %d images checked"
                       % (label, c.stats["checked"]), problems)
                ok = ok and not problems
                break
            delay = rng.uniform(0.3, 5.0)
            in_flight = c.run_until_cut(delay)
            c.stats["cuts"] += 1
            c.stats["in_flight"].append(len(in_flight))
            last = ("%s cut %d/%d at %.1f s, %d in flight (%s), boot+work %.1f s"
                    % (label, i, count, delay, len(in_flight), ", ".join(in_flight) or "-",
                       time.monotonic() - t0))
            # The figures so far, for a long run that is stopped early.
            with open(os.path.join(work, "figures-%s.txt" % label), "w") as f:
                f.write(figures(label, c.stats, time.monotonic() - started) + "\n")
    finally:
        v.cut()
        origin.stop()
    say(figures(label, c.stats, time.monotonic() - started))
    return ok


def figures(label, s, seconds):
    fl = s["in_flight"] or [0]
    return ("crash-figures %s: %d cuts in %.0f s, operations in flight at a cut: %d-%d (mean "
            "%.1f, %d in all), %d acknowledged operations, %d image checks, %d downloads done "
            "(%d resumed with data), %d losses, %d problems"
            % (label, s["cuts"], seconds, min(fl), max(fl), sum(fl) / len(fl), sum(fl),
               s["acked"], s["checked"], s["downloads_done"], s["resumed"], s["losses"],
               s["problems"]))


def run_tasks(tasks, jobs):
    """Runs the tasks on `jobs` threads, in order; a task that raises (the
    harness itself, not what it checks) is a failure, not a traceback."""
    todo = list(tasks)
    lock = threading.Lock()

    def lane():
        while True:
            with lock:
                if not todo:
                    return
                name, fn = todo.pop(0)
            try:
                fn()
            except Exception as e:
                report(name, ["%s: %s" % (type(e).__name__, e)])
    threads = [threading.Thread(target=lane, daemon=True) for _ in range(min(jobs, len(tasks)))]
    for t in threads:
        t.start()
    for t in threads:	# (a timeout keeps the main thread open to SIGTERM)
        while t.is_alive():
            t.join(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cuts", type=int, default=0)
    ap.add_argument("--disk", choices=["file", "cache", "both"], default="both")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("--faults", action="store_true")
    ap.add_argument("--jobs", type=int, default=3)
    ap.add_argument("--work", default=os.path.join(vmmod.ROOT, "build", "crash-work"))
    a = ap.parse_args()
    # Stopped (make interrupted): the finally blocks still kill the VMs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    vmediad = os.path.join(vmmod.ROOT, "build", "vmediad")
    if not os.access(vmediad, os.X_OK):
        print("FAIL setup: %s missing (make build/vmediad)" % vmediad)
        print("crash: 0 passed, 1 failed")
        return 1
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    kernel = vmmod.kernel_image()
    say("crash: seed %d, kernel %s" % (a.seed, kernel))
    tasks = []	# (name, function), the longest first
    if a.cuts:
        per = {"file": [False], "cache": [True], "both": [False, True]}[a.disk]
        n = a.cuts // len(per)
        for i, cache in enumerate(per):	# seed S for the file, S + 1 for the cache
            count = n + (a.cuts % len(per) if i == 0 else 0)
            tasks.append(("%s cuts" % ("cache" if cache else "file"),
                          lambda c=count, cache=cache, i=i:
                          run_cuts(a.work, kernel, c, cache, a.seed + i)))
        tasks.reverse()	# the cache's cuts take longest
    if a.faults:
        for name, fn in faults.TESTS:
            tasks.append((name, lambda name=name, fn=fn:
                          report(name, fn(a.work, kernel, new_disk))))
    if a.selftest:
        for nbd in (True, False):
            tasks.append(("selftest", lambda nbd=nbd: selftest(a.work, kernel, nbd)))
    started = time.monotonic()
    try:
        run_tasks(tasks, max(1, a.jobs))
    finally:
        vmmod.kill_all()
    say("crash-figures run: %d tasks, %d at once, in %.0f s"
        % (len(tasks), max(1, a.jobs), time.monotonic() - started))
    passed = sum(results)
    print("crash: %d passed, %d failed" % (passed, len(results) - passed))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
