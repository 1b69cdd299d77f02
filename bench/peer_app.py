"""The serving design many tutorials ship, as the peer of `bench/http_bench.py`: FastAPI + uvicorn
(one worker process; `uvicorn[standard]`, so uvloop and httptools) answering the node's
native request, `POST /v1/services/{service}/predict` with `{"features": {...}}`, with
JSON of the node's shape.

PEER_MODEL selects the model:

- `sklearn`: the pickled scikit-learn estimator, loaded once per process (PEER_PICKLE);
- `sklearn_per_request`: the same pickle, loaded again for every request;
- `onnxruntime`: an onnxruntime session on the ONNX file (PEER_ONNX), one intra-op and one
  inter-op thread (the setting for single-row serving; bench/peers.py uses the same).

Run: `PEER_MODEL=sklearn PEER_PICKLE=model.pkl python -m uvicorn peer_app:app --app-dir bench`.
"""

import os
import pickle
import time
import uuid

import numpy as np
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
CLASSES = ["setosa", "versicolor", "virginica"]
MODE = os.environ.get("PEER_MODEL", "sklearn")


class PredictRequest(BaseModel):
    features: dict[str, float]


def load_pickle():
    with open(os.environ["PEER_PICKLE"], "rb") as f:
        return pickle.load(f)


if MODE == "sklearn":
    MODEL = load_pickle()
elif MODE == "onnxruntime":
    import onnxruntime as ort

    _options = ort.SessionOptions()
    _options.intra_op_num_threads = 1
    _options.inter_op_num_threads = 1
    SESSION = ort.InferenceSession(os.environ["PEER_ONNX"], _options, providers=["CPUExecutionProvider"])
    INPUT = SESSION.get_inputs()[0].name
elif MODE != "sklearn_per_request":
    raise SystemExit(f"unknown PEER_MODEL {MODE}")

app = FastAPI()


def probabilities(row):
    if MODE == "onnxruntime":
        _label, proba = SESSION.run(None, {INPUT: np.array([row], dtype=np.float32)})
        return proba[0]
    model = MODEL if MODE == "sklearn" else load_pickle()
    return model.predict_proba(np.array([row], dtype=np.float64))[0]


@app.post("/v1/services/{service}/predict")
def predict(service: str, body: PredictRequest):
    started = time.perf_counter()
    missing = [f for f in FEATURES if f not in body.features]
    if missing or len(body.features) != len(FEATURES):
        raise HTTPException(status_code=400, detail=f"expected features {FEATURES}")
    proba = probabilities([body.features[f] for f in FEATURES])
    best = int(np.argmax(proba))
    return {
        "request_id": uuid.uuid4().hex,
        "service": service,
        "generation": "v1",
        "revision": 1,
        "prediction": CLASSES[best],
        "probabilities": {c: float(p) for c, p in zip(CLASSES, proba)},
        "latency_ms": round((time.perf_counter() - started) * 1e3, 3),
    }
