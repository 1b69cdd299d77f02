"""The node's OpenAPI document: valid, the same as `switchyard openapi` prints, and true.

Schemathesis generates requests for every operation from the served document (schema
examples, boundary values, random valid and invalid data; deterministic mode, so every run
sends the same requests) and checks every answer: never a 5xx; a documented status, content
type and headers; a body that matches the documented schema; invalid data refused; admin
operations refused without the token; undeclared methods answered 405. The node runs as it
would on a network, with an admin token, and the demo services seeded, so the examples reach
real models.
"""
import json
import pathlib
import subprocess
import sys
import tempfile
import urllib.request

import pytest
from openapi_spec_validator import validate

from conftest import BINARY, running_node

TOKEN = "conformance-admin-token"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "unsupported_method",
        "ignored_auth",
        "missing_required_header",
        "use_after_free",
        "ensure_resource_availability",
    ]
)


@pytest.fixture(scope="module")
def node():
    with tempfile.NamedTemporaryFile("w", suffix=".token") as token:
        token.write(TOKEN)
        token.flush()
        with running_node("--router-seed", "7", "--admin-token-file", token.name) as base:
            yield base


def served_document(base):
    with urllib.request.urlopen(f"{base}/openapi.json", timeout=10) as r:
        assert r.headers["content-type"] == "application/json"
        return json.load(r)


def test_the_document_is_valid_openapi_and_what_the_cli_prints(node):
    doc = served_document(node)
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    printed = subprocess.run([str(BINARY), "openapi"], check=True, capture_output=True, text=True).stdout
    assert json.loads(printed) == doc
    paths = doc["paths"]
    for route in [
        "/v1/services/{service}/predict",
        "/v2/models/{model}/versions/{version}/infer",
        "/admin/v1/deployments/{service}/rollback",
        "/admin/v1/scenarios/{name}/runs/{id}/cancel",
    ]:
        assert route in paths, route


def test_the_node_answers_as_its_document_says(node):
    with tempfile.TemporaryDirectory() as reports:
        run = subprocess.run(
            [
                str(pathlib.Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{node}/openapi.json",
                "--checks", CHECKS,
                "--phases", "examples,coverage,fuzzing",
                "--max-examples", "30",
                "--generation-deterministic",
                "--workers", "1",
                "--request-timeout", "30",
                "--header", f"Authorization: Bearer {TOKEN}",
                "--report", "junit",
                "--report-dir", reports,
                "--no-color",
            ],
            capture_output=True,
            text=True,
            cwd=reports,  # its cache directory goes there too
        )
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
