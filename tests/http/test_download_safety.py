"""What a download server or a URL cannot make vmediad do: overflow on a
hostile Content-Range, or reach the box's own loopback and link-local
addresses (unless --allow-local-downloads)."""
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
