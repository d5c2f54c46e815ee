"""What a download server or a URL cannot make vmediad do: overflow on a
hostile Content-Range, or reach the box's own loopback and link-local
addresses (unless --allow-local-downloads)."""
import json
import os
import socket
import urllib.parse

import pytest

from origin import Origin
from test_downloads import add, wait_job


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.stop()


def partial_url(origin, name, content_range):
    return "%s/partial/%s?cr=%s" % (origin.url, name, urllib.parse.quote(content_range))


@pytest.mark.parametrize("content_range", [
    # Found by the audit: start + Content-Length overflows int64 (the UBSan
    # build exited).
    "bytes 9223372036854775800-9223372036854775809/*",
    "bytes 9223372036854775800-9223372036854775809/9223372036854775810",
    "bytes 99999999999999999999-1/*",
    "bytes -5-4/10",
    "bytes 0-3/10",		# does not match the 10 bytes sent
    "bytes 0-9/5",		# past its own total
    "bytes 5-14/100",		# not the end of the file, and not asked for
    "garbage",
])
def test_a_partial_response_with_a_bad_content_range_fails_the_job(api, origin, server,
                                                                   content_range):
    origin.add("r.iso", b"x" * 10)
    r = add(api, url=partial_url(origin, "r.iso", content_range), name="r.iso")
    assert r.status_code == 202
    j = wait_job(api, r.json()["id"])
    assert j["state"] == "failed", j
    assert "Content-Range" in j["error"] or "not the rest of the file" in j["error"], j
    assert api.get("/images/r.iso").status_code == 404


def test_a_partial_response_with_a_good_content_range_of_the_whole_file_is_kept(api, origin):
    origin.add("ok.iso", b"y" * 10)
    r = add(api, url=partial_url(origin, "ok.iso", "bytes 0-9/10"), name="ok.iso")
    j = wait_job(api, r.json()["id"])
    assert j["state"] == "done", j
    assert api.get("/images/ok.iso").content == b"y" * 10


def outside_address():
    """An address of this machine other than loopback, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))	# no packet is sent
        addr = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if addr.startswith("127.") else addr


def refused(api, url, why):
    r = add(api, url=url, name="x.iso")
    assert r.status_code == 202
    j = wait_job(api, r.json()["id"], timeout=10)
    assert j["state"] == "failed", j
    assert why in j["error"] and "--allow-local-downloads" in j["error"], j
    assert j["attempts"] <= 1, j	# not a network error to retry
    assert api.get("/images/x.iso").status_code == 404
    return j


@pytest.fixture
def strict(make_server):
    """vmediad as it runs by default: no --allow-local-downloads."""
    return make_server(allow_local=False)


def test_loopback_is_refused_by_default(strict, origin):
    origin.add("a.iso", b"a" * 100)
    j = refused(strict.api, origin.url + "/files/a.iso", "127.0.0.1 is a loopback address")
    assert not [p for p, h in origin.requests if p == "/files/a.iso"], "it connected"
    assert "127.0.0.1" in strict.log()


def test_localhost_by_name_is_refused(strict, origin):
    origin.add("a.iso", b"a" * 100)
    refused(strict.api, "http://localhost:%d/files/a.iso" % origin.port, "loopback address")
    assert not origin.requests


@pytest.mark.parametrize("host", ["::1", "::ffff:127.0.0.1"])
def test_ipv6_loopback_and_ipv4_mapped_loopback_are_refused(make_server, host):
    o = Origin("::1" if host == "::1" else "127.0.0.1")
    try:
        o.add("a.iso", b"a" * 100)
        api = make_server(allow_local=False).api
        refused(api, "http://[%s]:%d/files/a.iso" % (host, o.port), "loopback address")
        assert not o.requests
    finally:
        o.stop()


def test_a_redirect_to_loopback_is_refused(strict):
    addr = outside_address()
    if not addr:
        pytest.skip("this machine has no address besides loopback")
    o = Origin("0.0.0.0")
    try:
        o.add("a.iso", b"a" * 100)
        to = "http://127.0.0.1:%d/files/a.iso" % o.port
        refused(strict.api, "http://%s:%d/redirect?to=%s" % (addr, o.port, urllib.parse.quote(to)),
                "127.0.0.1 is a loopback address")
        assert [p for p, h in o.requests if p.startswith("/redirect")]
        assert not [p for p, h in o.requests if p == "/files/a.iso"], "it followed the redirect"
    finally:
        o.stop()


@pytest.mark.parametrize("host", ["169.254.169.254", "[fe80::1]", "[::ffff:169.254.1.1]"])
def test_link_local_is_refused(strict, host):
    refused(strict.api, "http://%s/latest/meta-data/x.iso" % host, "link-local address")


def test_allow_local_downloads_lets_them_through(make_server, origin):
    origin.add("a.iso", b"a" * 100)
    api = make_server(["--allow-local-downloads"], allow_local=False).api
    j = wait_job(api, add(api, url=origin.url + "/files/a.iso").json()["id"])
    assert j["state"] == "done", j


def test_allow_local_downloads_from_the_json_config(make_server, origin, tmpdir_path):
    cfg = os.path.join(tmpdir_path, "local.json")
    with open(cfg, "w") as f:
        json.dump({"allow-local-downloads": True}, f)
    origin.add("a.iso", b"a" * 100)
    api = make_server(["--config", cfg], allow_local=False).api
    j = wait_job(api, add(api, url=origin.url + "/files/a.iso").json()["id"])
    assert j["state"] == "done", j
