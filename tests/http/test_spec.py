"""api/openapi.yaml itself, and the harness's reading of it (conftest.py)."""
import json

import pytest
import requests

from conftest import SPEC, check_response

METHODS = ("get", "head", "put", "post", "patch", "delete")


def _response(status, body, **headers):
    r = requests.Response()
    r.status_code = status
    r._content = json.dumps(body).encode()
    r.headers.update({"Content-Type": "application/json", **headers})
    return r


def test_every_path_that_answers_get_declares_head():
    assert [p for p, item in SPEC["paths"].items() if "get" in item and "head" not in item] == []


def test_no_operation_is_there_only_to_answer_405():
    filler = [(m, p) for p, item in SPEC["paths"].items() for m in METHODS
              if m in item and "405" in item[m]["responses"]
              and not any(c.startswith("2") for c in item[m]["responses"])]
    assert filler == []


def test_no_pending_operation_answers_504_pending():
    assert "Pending" not in SPEC["components"]["responses"]


def test_an_undeclared_method_is_the_documented_405():
    err = {"error": {"code": "method_not_allowed", "message": "PUT is not allowed on /status"}}
    check_response("PUT", "/status", _response(405, err, Allow="GET, HEAD"))
    with pytest.raises(AssertionError):
        check_response("PUT", "/status", _response(405, err))	# no Allow
    with pytest.raises(AssertionError):
        check_response("PUT", "/status", _response(200, {}))
    rf = {"error": {"code": "Base.1.15.OperationNotAllowed", "message": "no",
                    "@Message.ExtendedInfo": []}}
    with pytest.raises(Exception):	# a plain Error below /redfish
        check_response("POST", "/redfish/v1/Systems", _response(405, err, Allow="GET, HEAD"))
    check_response("POST", "/redfish/v1/Systems", _response(405, rf, Allow="GET, HEAD"))


def test_the_redfish_catch_all_answers_no_success():
    item = SPEC["paths"]["/redfish/v1/{path}"]
    assert [(m, c) for m in METHODS if m in item for c in item[m]["responses"] if c.startswith("2")] == []
    # a trailing slash is the path without it
    ok = _response(200, {"@odata.id": "/redfish/v1/Systems"})
    check_response("GET", "/redfish/v1/Systems/", ok)
    with pytest.raises(AssertionError):
        check_response("GET", "/redfish/v1/Nothing", ok)


# The HTTP layer's own refusals (server/http/), which come before any handler:
# credentials (401, 429) on every path but Redfish's public ones, the cross-site
# check (403) on every state-changing method, and a buffered body over
# --max-json-body (413) on every route but the two uploads (PUT streams).
PUBLIC = {"/redfish", "/redfish/v1", "/redfish/v1/odata", "/redfish/v1/$metadata"}


def _ops():
    return [(m, p, item[m]["responses"]) for p, item in SPEC["paths"].items()
            for m in METHODS if m in item]


def test_every_operation_declares_the_http_layers_refusals():
    missing = []
    for m, p, responses in _ops():
        want = set() if p in PUBLIC else {"401", "429"}
        if m in ("put", "post", "patch", "delete"):
            want.add("403")
        if m in ("post", "patch", "delete"):
            want.add("413")
        missing += ["%s %s: %s" % (m.upper(), p, c) for c in sorted(want - set(responses))]
    assert missing == []
    assert {"401", "403", "413", "429"} <= set(SPEC["x-undeclared-method"]["responses"])
