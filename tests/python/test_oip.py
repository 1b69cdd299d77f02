"""The Open Inference Protocol v2 routes, driven by the official Triton HTTP client.

Starts `switchyard serve` (the binary cargo built) on a free loopback port with a fresh data
directory (demo services seeded), then talks to it with tritonclient, as KServe and Triton
users do: health, metadata, inference with FP32 inputs (binary and JSON data) for each demo
model against the fixtures' onnxruntime outputs, a forced version, and errors.
"""
import json
import subprocess

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from conftest import BINARY, ROOT, running_node

# Demo service -> the fixture behind its v1.
MODELS = {
    "iris_classifier": "iris_logreg",
    "breast_cancer": "breast_cancer_logreg",
    "diabetes_progression": "diabetes_linear",
}


@pytest.fixture(scope="module")
def node():
    with running_node("--router-seed", "7") as base:
        # Serve v1 alone on the A/B demo so its answers are comparable with the fixture.
        subprocess.run([str(BINARY), "deploy", "breast_cancer", "v1", "--node", base], check=True, capture_output=True)
        yield httpclient.InferenceServerClient(url=base.removeprefix("http://"))


def expected(fixture):
    return json.loads((ROOT / "fixtures" / "expected" / f"{fixture}.json").read_text())


def test_health_and_server_metadata(node):
    assert node.is_server_live()
    assert node.is_server_ready()
    meta = node.get_server_metadata()
    assert meta["name"] == "switchyard"
    assert "binary_tensor_data" in meta["extensions"]


@pytest.mark.parametrize("service", sorted(MODELS))
def test_model_metadata(node, service):
    meta = node.get_model_metadata(service)
    exp = expected(MODELS[service])
    assert meta["name"] == service
    assert "v1" in meta["versions"]
    assert meta["inputs"] == [{"name": "float_input", "datatype": "FP32", "shape": [-1, len(exp["feature_names"])]}]
    names = [o["name"] for o in meta["outputs"]]
    assert names == (["label", "probabilities"] if exp["kind"] == "classifier" else ["variable"])
    assert node.is_model_ready(service)
    assert node.is_model_ready(service, "v1")


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("service", sorted(MODELS))
def test_infer_matches_onnxruntime(node, service, binary):
    exp = expected(MODELS[service])
    rows = np.array(exp["rows"], dtype=np.float32)
    inp = httpclient.InferInput("float_input", list(rows.shape), "FP32")
    inp.set_data_from_numpy(rows, binary_data=binary)
    if exp["kind"] == "classifier":
        outputs = [httpclient.InferRequestedOutput("label", binary_data=binary),
                   httpclient.InferRequestedOutput("probabilities", binary_data=binary)]
    else:
        outputs = [httpclient.InferRequestedOutput("variable", binary_data=binary)]
    result = node.infer(service, [inp], model_version="v1", outputs=outputs, request_id="req-42")
    response = result.get_response()
    assert response["model_version"] == "v1"
    assert response["id"] == "req-42"
    if exp["kind"] == "classifier":
        assert result.as_numpy("label").tolist() == exp["labels"]
        np.testing.assert_allclose(result.as_numpy("probabilities"), np.array(exp["probabilities"]), rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(result.as_numpy("variable").ravel(), np.array(exp["values"]), rtol=1e-5)


def test_router_picks_without_a_version(node):
    rows = np.array(expected("iris_logreg")["rows"][:3], dtype=np.float32)
    inp = httpclient.InferInput("float_input", list(rows.shape), "FP32")
    inp.set_data_from_numpy(rows)
    seen = set()
    for _ in range(40):
        seen.add(node.infer("iris_classifier", [inp]).get_response()["model_version"])
    assert seen == {"v1"}  # the demo serves v1 alone


def test_unknown_parameters_are_accepted(node):
    rows = np.zeros((1, 4), dtype=np.float32)
    inp = httpclient.InferInput("float_input", [1, 4], "FP32")
    inp.set_data_from_numpy(rows, binary_data=False)
    result = node.infer("iris_classifier", [inp], parameters={"experiment": "spring", "trace_level": 3})
    assert result.as_numpy("label").shape == (1,)


def test_errors(node):
    inp = httpclient.InferInput("float_input", [1, 3], "FP32")
    inp.set_data_from_numpy(np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(InferenceServerException, match="shape"):
        node.infer("iris_classifier", [inp])
    good = httpclient.InferInput("float_input", [1, 4], "FP32")
    good.set_data_from_numpy(np.zeros((1, 4), dtype=np.float32))
    with pytest.raises(InferenceServerException, match="does not exist"):
        node.infer("no_such_model", [good])
    with pytest.raises(InferenceServerException, match="not a live generation"):
        node.infer("iris_classifier", [good], model_version="v9")
    wrong = httpclient.InferInput("x", [1, 4], "FP32")
    wrong.set_data_from_numpy(np.zeros((1, 4), dtype=np.float32))
    with pytest.raises(InferenceServerException, match="unknown input"):
        node.infer("iris_classifier", [wrong])
    assert not node.is_model_ready("iris_classifier", "v9")
