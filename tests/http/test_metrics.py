"""GET /metrics: Prometheus's text format, checked by promtool, with the
counts of what the test did."""
import os
import re
import socket
import subprocess
import time

import pytest
import requests
import yaml

from conftest import ROOT, VMEDIAD, check_response
from origin import Origin
from test_auth import creds  # noqa: F401 (a fixture)
from test_downloads import add, wait_job
from test_images import wait_for
from test_luns import host, insert, put

_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def scrape(api):
    r = api.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    check = subprocess.run(["promtool", "check", "metrics"], input=r.text,
                           capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout + check.stderr == "", \
        check.stdout + check.stderr
    samples = {}
    for line in r.text.splitlines():
        if line.startswith("#"):
            continue
        m = _LINE.match(line)
        assert m, line
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return samples


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.stop()


def test_a_fresh_server_passes_promtool_and_shows_its_luns(api):
    s = scrape(api)
    assert s['vmedia_lun_state{lun="0",state="empty"}'] == 1
    assert s['vmedia_lun_state{lun="1",state="inserted"}'] == 0
    assert s['vmedia_lun_stuck{lun="1"}'] == 0
    # The disk is shared with whatever else runs: close, not equal.
    free = api.get("/status").json()["storage"]["free_bytes"]
    assert abs(s["vmedia_storage_free_bytes"] - free) < 1 << 30
    assert s['vmedia_build_info{version="%s"}' % api.get("/status").json()["version"]] == 1
    assert s['vmedia_transfers_total{kind="upload",outcome="ok"}'] == 0
    assert s['vmedia_forced_eject_duration_seconds_count'] == 0


def test_uploads_and_downloads_are_counted_with_bytes_and_durations(api, origin):
    put(api, "a.img", b"x" * 5000)
    assert api.put("/images/b.img?sha256=" + "0" * 64, data=b"y" * 10).status_code == 422
    origin.add("c.iso", b"z" * 70000)
    job = add(api, url=origin.url + "/files/c.iso").json()
    assert wait_job(api, job["id"])["state"] == "done"
    job = add(api, url=origin.url + "/files/missing.iso").json()
    assert wait_job(api, job["id"])["state"] == "failed"
    s = scrape(api)
    assert s['vmedia_transfers_total{kind="upload",outcome="ok"}'] == 1
    assert s['vmedia_transfers_total{kind="upload",outcome="failed"}'] == 1
    assert s['vmedia_transfer_bytes_total{kind="upload"}'] == 5000
    assert s['vmedia_transfers_total{kind="download",outcome="ok"}'] == 1
    assert s['vmedia_transfers_total{kind="download",outcome="failed"}'] == 1
    assert s['vmedia_transfer_bytes_total{kind="download"}'] == 70000
    for kind in ("upload", "download"):
        assert s['vmedia_transfer_duration_seconds_count{kind="%s"}' % kind] == 1
        assert s['vmedia_transfer_duration_seconds_bucket{kind="%s",le="+Inf"}' % kind] == 1
        assert 0 < s['vmedia_transfer_duration_seconds_sum{kind="%s"}' % kind] < 10


def test_ejects_by_method_and_outcome_and_the_forced_latency(api):
    put(api, "a.img")
    assert insert(api, 0, "a.img", cdrom=False).status_code == 200
    host(api, 0, lock=1)
    assert api.post("/luns/0/eject").status_code == 409	# locked: a failed plain eject
    r = api.post("/luns/0/eject?force=1")
    assert r.status_code == 200
    method = r.json()["last_eject"]["method"]
    ms = r.json()["last_eject"]["elapsed_ms"]
    s = scrape(api)
    failed = [k for k in s if k.startswith("vmedia_ejects_total{") and 'outcome="failed"' in k]
    assert len(failed) == 1 and 'forced="false"' in failed[0] and s[failed[0]] == 1
    assert s['vmedia_ejects_total{method="%s",forced="true",outcome="ok"}' % method] == 1
    assert s["vmedia_forced_eject_duration_seconds_count"] == 1
    assert abs(s["vmedia_forced_eject_duration_seconds_sum"] - ms / 1000) < 0.001
    # The buckets are cumulative and the observation is in the first that holds it.
    les = sorted((float(k.split('le="')[1].rstrip('"}')), v) for k, v in s.items()
                 if k.startswith("vmedia_forced_eject_duration_seconds_bucket")
                 and "+Inf" not in k)
    assert [v for le, v in les] == [0 if le < ms / 1000 else 1 for le, v in les]
    assert s['vmedia_lun_state{lun="0",state="empty"}'] == 1


def test_http_requests_by_route_method_and_status(api):
    api.get("/luns")
    api.get("/luns")
    assert api.get("/luns/7").status_code == 404
    api.request("GET", "/", check=False)
    api.request("GET", "/nothing.here", check=False)
    # A request is counted when libmicrohttpd says it is complete, which
    # may come just after the client has read the reply (seen under load).
    want = {'vmedia_http_requests_total{route="/luns",method="GET",code="200"}': 2,
            'vmedia_http_requests_total{route="/luns/*",method="GET",code="404"}': 1,
            'vmedia_http_requests_total{route="web",method="GET",code="200"}': 1,
            'vmedia_http_requests_total{route="none",method="GET",code="404"}': 1}
    scrapes = []
    assert wait_for(lambda: scrapes.append(scrape(api)) or
                    {k: scrapes[-1].get(k) for k in want} == want), scrapes[-1]
    # The scrapes before this one are counted too.
    metrics = 'vmedia_http_requests_total{route="/metrics",method="GET",code="200"}'
    assert wait_for(lambda: scrape(api).get(metrics, 0) >= len(scrapes))


def test_the_readme_alert_rules_are_valid_and_name_real_metrics(tmpdir_path, api):
    readme = open(os.path.join(ROOT, "README.md")).read()
    rules = readme.split("Two alert rules worth\nhaving:\n\n```yaml\n")[1].split("```")[0]
    path = os.path.join(tmpdir_path, "rules.yml")
    with open(path, "w") as f:
        f.write(rules)
    check = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
    assert check.returncode == 0 and "SUCCESS: 2 rules found" in check.stdout, check.stdout
    names = set(re.findall(r"^# TYPE (\S+) ", api.get("/metrics").text, re.M))
    used = set(re.findall(r"\b(vmedia_[a-z_]+)", rules))
    assert {"vmedia_ejects_total", "vmedia_lun_stuck"} <= used, used
    for metric in used:
        assert metric in names, metric
    # What they do, with promtool's own rule tests: the failed-eject alert
    # fires for the first failure (its series appears with it, at 1), and
    # again for a later one; a stuck LUN alerts after 5 minutes.
    tests = os.path.join(tmpdir_path, "rules-test.yml")
    failed = 'vmedia_ejects_total{forced="true",outcome="failed",method="break_io"}'

    def fires(rule, at, labels, summary):
        return {"eval_time": at, "alertname": rule,
                "exp_alerts": [{"exp_labels": labels, "exp_annotations": {"summary": summary}}]}

    def quiet(rule, at):
        return {"eval_time": at, "alertname": rule, "exp_alerts": []}

    eject = {"severity": "critical", "forced": "true", "outcome": "failed", "method": "break_io"}
    eject_summary = ": forced eject failed (break_io)"
    with open(tests, "w") as f:
        yaml.safe_dump({"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": failed, "values": "_ _ _ " + "1 " * 22 + "2 2"},
                {"series": failed.replace("failed", "ok"), "values": "1 " * 27},
                {"series": 'vmedia_lun_stuck{lun="1"}', "values": "0 0 " + "1 " * 8},
            ],
            "alert_rule_test": [
                quiet("VmediaEjectFailed", "2m"),
                fires("VmediaEjectFailed", "3m", eject, eject_summary),
                quiet("VmediaEjectFailed", "20m"),
                fires("VmediaEjectFailed", "25m", eject, eject_summary),
                quiet("VmediaLunStuck", "6m"),
                fires("VmediaLunStuck", "7m", {"severity": "warning", "lun": "1"},
                      ": LUN 1 stuck in the kernel; eject?force=1"),
            ]}]}, f)
    check = subprocess.run(["promtool", "test", "rules", tests], capture_output=True, text=True,
                           cwd=tmpdir_path)
    assert check.returncode == 0, check.stdout + check.stderr


def _metrics_port(server):
    # make_server returns once the API listens; the metrics listener starts
    # right after it.
    deadline = time.time() + 30
    while True:
        m = re.search(r"serving GET /metrics without authentication on \S+ \(port (\d+)\)",
                      server.log())
        if m:
            return int(m.group(1))
        assert time.time() < deadline, server.log()
        time.sleep(0.02)


def test_metrics_listen_serves_metrics_alone_and_without_credentials(make_server, creds):
    path, token = creds
    srv = make_server(["--auth-file", path, "--metrics-listen", "127.0.0.1:0"])
    base = "http://127.0.0.1:%d" % _metrics_port(srv)
    assert base != srv.url
    # The API's own /metrics still wants the credentials.
    assert srv.api.get("/metrics").status_code == 401
    r = requests.get(base + "/metrics", timeout=30)
    assert r.status_code == 200
    check_response("GET", "/metrics", r)
    check = subprocess.run(["promtool", "check", "metrics"], input=r.text,
                           capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout + check.stderr == "", \
        check.stdout + check.stderr
    assert 'vmedia_lun_state{lun="0",state="empty"} 1' in r.text
    # Nothing else: no API, no web UI, no other method, with or without a token.
    for p in ("/status", "/luns", "/", "/index.html"):
        r = requests.get(base + p, timeout=30, headers={"Authorization": "Bearer " + token})
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", (p, r.text)
    r = requests.post(base + "/luns/0/eject", timeout=30)
    assert r.status_code == 404, r.text
    r = requests.post(base + "/metrics", timeout=30)
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD", r.text
    # The scrapes on either listener land in the same counters.
    r = requests.get(srv.url + "/metrics", timeout=30, headers={"Authorization": "Bearer " + token})
    assert r.status_code == 200
    assert 'vmedia_http_requests_total{route="/metrics",method="GET",code="200"} 1' in r.text


def test_metrics_listen_on_a_taken_port_stops_vmediad(tmpdir_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = "127.0.0.1:%d" % s.getsockname()[1]
        out = subprocess.run([VMEDIAD, "--listen", "127.0.0.1:0", "--storage",
                              os.path.join(tmpdir_path, "images"), "--metrics-listen", taken],
                             capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stderr
    assert "cannot listen on %s" % taken in out.stderr.splitlines()[-1], out.stderr
