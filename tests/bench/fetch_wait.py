#!/usr/bin/env python3
"""fetch_wait.py BASE URL NAME: asks vmediad to download URL as NAME and
waits for the job to end, polling GET /downloads/{id} every 20 ms over one
kept-alive connection (a process per poll would steal a core's worth of
CPU from what is measured on a 2-core box). Prints the seconds from the
POST to the job's end; exits 1 if the job did not end "done"."""
import http.client
import json
import sys
import time
from urllib.parse import urlsplit

base, url, name = sys.argv[1:4]
u = urlsplit(base)
conn = http.client.HTTPConnection(u.hostname, u.port)


def call(method, path, body=None):
    conn.request(method, path, body=body,
                 headers={"Content-Type": "application/json"} if body else {})
    r = conn.getresponse()
    return r.status, json.loads(r.read() or b"null")


t0 = time.monotonic()
status, job = call("POST", "/downloads", json.dumps({"url": url, "name": name}))
if status != 202:
    sys.exit(f"POST /downloads: {status} {job}")
while job["state"] in ("queued", "running"):
    time.sleep(0.02)
    _, job = call("GET", f"/downloads/{job['id']}")
t1 = time.monotonic()
if job["state"] != "done":
    sys.exit(f"download {job['state']}: {job.get('error')}")
print(f"{t1 - t0:.3f}")
