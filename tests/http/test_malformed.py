"""Malformed requests, sent byte for byte over a raw socket (curl, requests
and http.client refuse to send most of them): each gets a clear JSON error
and changes nothing on disk."""
import json
import os
import socket

import pytest


def send_raw(port, data, timeout=10):
    """Sends data as it is and returns (status, headers, body) of the reply."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        want = int(headers.get("content-length", "0"))
        while len(body) < want:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, headers, body
    finally:
        s.close()


def storage_files(server):
    out = []
    for d, _, files in os.walk(server.storage):
        for f in files:
            if f != ".lock":
                out.append(os.path.relpath(os.path.join(d, f), server.storage))
    return sorted(out)


def error_of(body):
    err = json.loads(body)["error"]
    assert isinstance(err["code"], str) and isinstance(err["message"], str)
    return err


def test_nul_byte_in_a_delete_target_deletes_nothing(server):
    r = server.api.put("/images/keep.img", data=b"keep me")
    assert r.status_code == 201
    before = storage_files(server)
    status, _, body = send_raw(server.port,
                               b"DELETE /images/keep.img\x00.bak HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert status == 400, body
    err = error_of(body)
    assert err["code"] == "bad_request" and "NUL" in err["message"], err
    assert storage_files(server) == before
    r = server.api.get("/images/keep.img")
    assert r.status_code == 200 and r.content == b"keep me"


def test_nul_byte_in_an_upload_target_stores_nothing(server):
    before = storage_files(server)
    status, _, body = send_raw(server.port,
                               b"PUT /images/a\x00b.img HTTP/1.1\r\nHost: localhost\r\n"
                               b"Content-Length: 4\r\n\r\ndata")
    assert status == 400, body
    assert error_of(body)["code"] == "bad_request"
    assert storage_files(server) == before
    assert server.api.get("/images").json()["images"] == []


@pytest.mark.parametrize("target", [
    b"/luns/0/eject?force=1\x00x",
    b"/images\x00",
    b"/\x00",
])
def test_nul_byte_anywhere_in_the_target_is_400(server, target):
    status, _, body = send_raw(server.port, b"POST " + target + b" HTTP/1.1\r\nHost: localhost\r\n"
                               b"Content-Length: 0\r\n\r\n")
    assert status == 400, body
    assert "NUL" in error_of(body)["message"]


def test_plain_targets_still_work_over_the_raw_client(server):
    """The check that finds a NUL must not refuse an ordinary request line."""
    status, _, body = send_raw(server.port, b"GET /images?x=1&y=%41 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert status == 200, body
    assert json.loads(body)["images"] == []
    status, _, body = send_raw(server.port, b"GET /status HTTP/1.0\r\n\r\n")
    assert status == 200, body


@pytest.mark.parametrize("path", ["/luns/%201", "/luns/1%20", "/luns/+1", "/luns/01",
                                  "/luns/%091", "/luns/1%00"])
def test_a_lun_number_is_digits_only(server, path):
    status, _, body = send_raw(server.port, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert status == 400, body
    assert error_of(body)["code"] == "bad_lun"


@pytest.mark.parametrize("path", ["/downloads/%201", "/downloads/+1", "/downloads/01"])
def test_a_download_id_is_digits_only(server, path):
    status, _, body = send_raw(server.port, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert status == 400, body
    assert error_of(body)["code"] == "bad_request"


@pytest.mark.parametrize("rng,status,want", [
    ("bytes=0-18446744073709551615", 206, (0, 99)),
    ("bytes=0-99999999999999999999999", 206, (0, 99)),
    ("bytes=90-18446744073709551615", 206, (90, 99)),
    ("bytes=18446744073709551615-", 416, None),
    ("bytes=99999999999999999999999-", 416, None),
])
def test_range_positions_beyond_64_bits(server, rng, status, want):
    data = bytes(range(100))
    assert server.api.put("/images/r.img", data=data).status_code == 201
    r = server.api.get("/images/r.img", headers={"Range": rng})
    assert r.status_code == status, (rng, r.status_code)
    if want:
        assert r.headers["Content-Range"] == "bytes %d-%d/100" % want
        assert r.content == data[want[0]:want[1] + 1]
    else:
        assert r.headers["Content-Range"] == "bytes */100"


def test_an_empty_upload_is_refused_unless_asked_for(server):
    api = server.api
    before = storage_files(server)
    r = api.put("/images/empty.img", data=b"")
    assert r.status_code == 400 and r.json()["error"]["code"] == "empty_body"
    assert "allow_empty=1" in r.json()["error"]["message"]

    def nothing():
        return iter([])
    r = api.put("/images/empty.img", data=nothing())	# chunked, no data
    assert r.status_code == 400 and r.json()["error"]["code"] == "empty_body"
    assert storage_files(server) == before
    assert api.get("/images").json()["images"] == []
    r = api.put("/images/empty.img?allow_empty=1", data=b"")
    assert r.status_code == 201 and r.json()["size"] == 0
