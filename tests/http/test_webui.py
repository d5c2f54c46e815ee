"""The web UI is built into vmediad: it serves it from wherever it is
started, and --web DIR serves a directory instead (for working on the UI)."""
import os

import requests

from conftest import ROOT


def _web(name):
    with open(os.path.join(ROOT, "web", name), "rb") as f:
        return f.read()


def test_the_ui_is_served_without_web_from_another_directory(server):
    # conftest starts vmediad without --web, in a temporary directory.
    r = requests.get(server.url + "/")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.content == _web("index.html")


def test_every_file_of_web_is_embedded_byte_for_byte(server):
    types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
    names = sorted(os.listdir(os.path.join(ROOT, "web")))
    assert "app.js" in names and "style.css" in names
    for name in names:
        r = requests.get(server.url + "/" + name)
        assert r.status_code == 200, name
        assert r.content == _web(name), name
        assert r.headers["Content-Type"].split(";")[0] == types[os.path.splitext(name)[1]]
        assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_head_of_an_embedded_file_has_its_length(server):
    r = requests.head(server.url + "/app.js")
    assert r.status_code == 200
    assert int(r.headers["Content-Length"]) == len(_web("app.js"))
    assert r.content == b""


def test_a_file_the_ui_does_not_have_is_404(server):
    r = requests.get(server.url + "/nothing.js")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_web_dir_overrides_the_embedded_ui(make_server, tmpdir_path):
    web = os.path.join(tmpdir_path, "myweb")
    os.mkdir(web)
    with open(os.path.join(web, "index.html"), "w") as f:
        f.write("<p>working copy</p>\n")
    srv = make_server(extra=["--web", web])
    r = requests.get(srv.url + "/")
    assert r.status_code == 200 and r.text == "<p>working copy</p>\n"
    # Only that directory: what it lacks is not taken from the binary.
    assert requests.get(srv.url + "/app.js").status_code == 404
