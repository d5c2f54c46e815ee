"""cuts.py: the power-cut loop. Worker threads drive uploads (plain and
chunked), overwrites, deletes and URL downloads against vmediad in the VM;
at a random moment the power is cut; the VM boots again on the same disk
and check() holds what it finds to what vmediad had acknowledged.

The model, per image name (one operation at a time per name):
  sha      the content last acknowledged (201 of an upload, 200/204 of a
           delete: None, a download job seen "done"), None for absent
  pending  the operation whose answer had not arrived when the power went
           (a download: from its 202 until the job is seen done)
After a cut a name must hold `sha`, or, with an operation pending, `sha` or
that operation's target. Anything else is a loss."""
import hashlib
import random
import threading
import time

NAMES = ["n%d.img" % i for i in range(8)]


class Name:
    def __init__(self, name):
        self.name = name
        self.sha = None
        self.pending = None	# {"kind", "sha", "job", "src"}


class Cuts:
    def __init__(self, vm, origin, rng, log):
        self.vm, self.origin, self.rng, self.log = vm, origin, rng, log
        self.names = {n: Name(n) for n in NAMES}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.src_seq = 0
        self.problems = []	# of the current boot
        self.stats = {"cuts": 0, "in_flight": [], "checked": 0, "losses": 0, "problems": 0,
                      "resumed": 0, "downloads_done": 0, "acked": 0}

    # --- the operations ---------------------------------------------------

    def _claim(self, want):
        """A free name for which want(name) holds, marked busy, or None."""
        with self.lock:
            free = [n for n in self.names.values() if n.pending is None and want(n)]
            if not free:
                return None
            n = self.rng.choice(free)
            n.pending = {"kind": "claimed", "sha": None, "job": None, "src": None}
            return n

    def _unexpected(self, what, status, body):	# (under the lock)
        if not self.stop.is_set():
            self.problems.append("%s: unexpected %s %s" % (what, status, str(body)[:300]))

    def _upload(self, rng):
        n = self._claim(lambda n: True)
        if not n:
            return
        data = rng.randbytes(rng.choice([rng.randint(1, 64 << 10), rng.randint(64 << 10, 3 << 20)]))
        sha = hashlib.sha256(data).hexdigest()
        overwrite = n.sha is not None
        chunked = rng.random() < 0.3
        with self.lock:
            n.pending = {"kind": "overwrite" if overwrite else "upload", "sha": sha,
                         "job": None, "src": None}
        path = "/images/%s%s" % (n.name, "?overwrite=1" if overwrite else "")
        body = data
        if chunked:
            body = (data[i:i + 65536] for i in range(0, len(data), 65536))
        try:
            status, reply = self.vm.api("PUT", path, body=body, chunked=chunked, timeout=120)
        except OSError:
            return	# the cut: stays pending
        with self.lock:
            if status in (200, 201) and isinstance(reply, dict) and reply.get("sha256") == sha:
                n.sha = sha
                self.stats["acked"] += 1
            else:
                self._unexpected("PUT " + path, status, reply)
            n.pending = None

    def _delete(self, rng):
        n = self._claim(lambda n: n.sha is not None)
        if not n:
            return
        with self.lock:
            n.pending = {"kind": "delete", "sha": None, "job": None, "src": None}
        try:
            status, reply = self.vm.api("DELETE", "/images/" + n.name)
        except OSError:
            return
        with self.lock:
            if status in (200, 204):
                n.sha = None
                self.stats["acked"] += 1
            else:
                self._unexpected("DELETE " + n.name, status, reply)
            n.pending = None

    def _download(self, rng):
        with self.lock:	# at most 3 at once: the names are for uploads too
            if sum(1 for n in self.names.values()
                   if n.pending and n.pending["kind"] == "download") >= 3:
                return
        n = self._claim(lambda n: n.sha is None)
        if not n:
            return
        data = rng.randbytes(rng.randint(2 << 20, 8 << 20) + rng.randint(0, 4095))
        sha = hashlib.sha256(data).hexdigest()
        with self.lock:
            self.src_seq += 1
            src = "src-%d-%d.bin" % (id(self) % 1000, self.src_seq)
            n.pending = {"kind": "download", "sha": sha, "job": None, "src": src}
        url = self.origin.add(src, data)
        try:
            status, reply = self.vm.api("POST", "/downloads", body={"url": url, "name": n.name})
        except OSError:
            return
        with self.lock:
            if status == 202 and isinstance(reply, dict) and "id" in reply:
                n.pending["job"] = reply["id"]
                self.stats["acked"] += 1
            else:
                self._unexpected("POST /downloads " + n.name, status, reply)
                n.pending = None
                self.origin.remove(src)

    def _poll_downloads(self):
        """Marks downloads that finished; a job seen "done" is acknowledged."""
        try:
            status, reply = self.vm.api("GET", "/downloads")
        except OSError:
            return
        if status != 200:
            return
        jobs = {j["id"]: j for j in reply["downloads"]}
        with self.lock:
            for n in self.names.values():
                p = n.pending
                if p and p["kind"] == "download" and p["job"] in jobs:
                    self._job_seen(n, jobs[p["job"]])

    def _job_seen(self, n, job):
        p = n.pending
        if job["state"] == "done":
            n.sha = p["sha"]
            n.pending = None
            self.stats["downloads_done"] += 1
            self.origin.remove(p["src"])
        elif job["state"] in ("failed", "cancelled"):
            self.problems.append("download %d of %s %s: %s" % (job["id"], n.name, job["state"],
                                                              job.get("error")))
            self.origin.remove(p["src"])
            # What it left is known only from the next listing: the name
            # stays out of use until then, its content either.
            n.pending = dict(p, kind="failed download")

    def _worker(self, seed):
        rng = random.Random(seed)
        while not self.stop.is_set():
            r = rng.random()
            if r < 0.45:
                self._upload(rng)
            elif r < 0.6:
                self._delete(rng)
            elif r < 0.75:
                self._download(rng)
            elif r < 0.85:
                self._poll_downloads()
            else:
                time.sleep(rng.uniform(0, 0.3))

    def run_until_cut(self, seconds, workers=3):
        """Drives operations for SECONDS, then cuts the power; returns what
        was in flight."""
        self.stop.clear()
        threads = [threading.Thread(target=self._worker, args=(self.rng.random(),), daemon=True)
                   for _ in range(workers)]
        for t in threads:
            t.start()
        time.sleep(seconds)
        self.stop.set()
        self.vm.cut()
        for t in threads:
            t.join(60)
        with self.lock:
            return sorted("%s %s" % (n.pending["kind"], n.name)
                          for n in self.names.values()
                          if n.pending and n.pending["kind"] != "claimed")

    # --- after the cut ----------------------------------------------------

    def _listing(self):
        """GET /images once nothing is being verified any more."""
        end = time.monotonic() + 120
        while True:
            status, reply = self.vm.api("GET", "/images")
            if status != 200:
                raise RuntimeError("GET /images: %s %s" % (status, reply))
            images = reply["images"]
            if not any(i.get("verifying") for i in images) or time.monotonic() > end:
                return {i["name"]: i for i in images}
            time.sleep(0.5)

    def _loss(self, text):
        self.stats["losses"] += 1
        self.problems.append("LOSS: " + text)

    def _check_image(self, name, img, files, allowed):
        if img["sha256"] not in allowed:
            self._loss("%s is listed complete with SHA-256 %s; what was sent for it: %s"
                       % (name, img["sha256"], ", ".join(sorted(str(a) for a in allowed))))
        on_disk = files.get(name)
        if on_disk is None:	# e.g. a download that finished after the agent looked
            status, data = self.vm.api("GET", "/images/" + name, timeout=120)
            on_disk = (len(data), hashlib.sha256(data).hexdigest()) if status == 200 else (0, None)
        if on_disk[1] != img["sha256"] or on_disk[0] != img["size"]:
            self._loss("%s: the file holds %d bytes with SHA-256 %s; vmediad lists %d bytes, %s"
                       % (name, on_disk[0], on_disk[1], img["size"], img["sha256"]))
        self.stats["checked"] += 1

    def _leftovers(self, files, images, downloading):
        parts = {p for p in files if p.startswith(".partial/")}
        for path in sorted(files):
            top, _, base = path.partition("/")
            if top == ".tmp":
                self.problems.append("leftover after start-up: " + path)
            elif top == ".meta" and (base.startswith(".") or
                                     (base not in images and base not in downloading)):
                self.problems.append("orphan metadata after start-up: " + path)
            elif top == ".partial" and base.endswith(".json.new"):
                if path in self.still_there:
                    self.problems.append("leftover after start-up: " + path)
            elif top == ".partial" and base.endswith(".part") and \
                    ".partial/" + base[:-5] + ".json" not in parts:
                self.problems.append("download data without its job file: " + path)
            elif not base and path not in images:
                self.problems.append("%s is on disk but not listed" % path)

    def check(self):
        """Holds the VM's state after a boot to the model; returns the problems
        found, and those met while driving the operations before the cut."""
        # In this order: a download may finish in between, so a job seen
        # done must be listed, and a job seen running may be listed done.
        files = self.vm.files()
        # A job file being written (dl-N.json.new, then renamed) is seen
        # when the listing falls on a resumed job's save; one left by the
        # run before is still there a moment later.
        suspects = {p for p in files if p.startswith(".partial/") and p.endswith(".json.new")}
        self.still_there = set()
        if suspects:
            time.sleep(2)
            self.still_there = suspects & set(self.vm.files())
        status, reply = self.vm.api("GET", "/downloads")
        jobs = {j["id"]: j for j in reply["downloads"]} if status == 200 else {}
        images = self._listing()
        by_name = {j["name"]: j for j in jobs.values() if j["state"] in ("queued", "running")}
        with self.lock:
            downloading = {n.name for n in self.names.values()
                           if n.pending and n.pending["kind"] == "download"}
            for name, img in images.items():
                n = self.names.get(name)
                if n is None:
                    self.problems.append("unknown image listed: %s" % name)
                    continue
                allowed = {n.sha} | ({n.pending["sha"]} if n.pending else set())
                if img["complete"]:
                    self._check_image(name, img, files, allowed - {None})
                elif name not in by_name:
                    self.problems.append("%s is listed incomplete with no download running"
                                         % name)
            for n in self.names.values():
                self._settle(n, images.get(n.name), jobs, by_name)
            self._leftovers(files, images, downloading)
            problems, self.problems = self.problems, []
        self.stats["problems"] += len(problems)
        return problems

    def _settle(self, n, img, jobs, by_name):
        """Resolves what a cut left open on name n."""
        present = img is not None and img["complete"]
        p = n.pending
        if p is None or p["kind"] == "claimed":
            n.pending = None
            if n.sha and not present:
                self._loss("%s was acknowledged (SHA-256 %s) and is gone" % (n.name, n.sha))
            elif n.sha is None and present:
                self._loss("%s was deleted (acknowledged) and is back" % n.name)
            n.sha = img["sha256"] if present else None
            return
        if p["kind"] != "download":	# the upload or delete ended with the power
            n.sha = img["sha256"] if present else None
            n.pending = None
            return
        job = jobs.get(p["job"]) if p["job"] is not None else by_name.get(n.name)
        if job is None and p["job"] is not None and not present:
            self._loss("download %s of %s was accepted (202) and is gone"
                       % (p["job"], n.name))
        if job is None:
            n.sha = img["sha256"] if present else None
            n.pending = None
            self.origin.remove(p["src"])
            return
        p["job"] = job["id"]
        if job["state"] in ("queued", "running") and job.get("bytes_done", 0) > 0:
            self.stats["resumed"] += 1
        self._job_seen(n, job)
        if n.pending and n.pending["kind"] == "failed download":	# what is there now
            n.sha = img["sha256"] if present else None
            n.pending = None
        if n.pending is None and job["state"] == "done" and not present:
            self._loss("download %d of %s is done but the image is not listed"
                       % (job["id"], n.name))

    def settle_downloads(self, timeout=300):
        """Lets the downloads still running finish (no cut); True if they did."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self._poll_downloads()
            with self.lock:
                if not any(n.pending for n in self.names.values()):
                    return True
            time.sleep(1)
        return False
