"""Puts real models into a real MLflow tracking server for Switchyard's MLflow tests.

    python tests/mlflow/models.py URI onnx NAME --seed S [--alias A] [--features a,b,c,d] [--tag K=V]
    python tests/mlflow/models.py URI sklearn NAME
    python tests/mlflow/models.py URI alias NAME ALIAS VERSION

`onnx` trains a small scikit-learn classifier on iris (a seeded split, so each seed gives a
different model), converts it with skl2onnx, logs it with `mlflow.onnx.log_model` in a run
with metrics (and the --tag run tags), registers it under NAME and, with --alias, points the alias at it. It prints
one JSON object: the registered version, the run id, the run's metrics, a few holdout rows
and onnxruntime's labels and probabilities for them (what Switchyard must answer).

`sklearn` logs a model with the sklearn flavour only (a pickle, no ONNX): Switchyard must
refuse it. `alias` moves an alias.
"""

import argparse
import json
import sys

import mlflow
import numpy as np
import onnx
import onnxruntime as ort
from mlflow import MlflowClient
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def iris(seed):
    data = load_iris()
    x = data.data.astype(np.float32)
    return train_test_split(x, data.target, test_size=0.3, random_state=seed)


def log_onnx(args):
    x_train, x_test, y_train, y_test = iris(args.seed)
    # A weak model for a small C: the tests can tell versions apart by their answers.
    est = LogisticRegression(C=args.c, max_iter=500).fit(x_train, y_train)
    model = convert_sklearn(
        est,
        initial_types=[("input", FloatTensorType([None, len(FEATURES)]))],
        options={id(est): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    if args.features:
        model.metadata_props.append(
            onnx.StringStringEntryProto(key="switchyard.feature_names", value=json.dumps(args.features.split(",")))
        )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rows = x_test[:10]
    labels, probabilities = session.run(None, {"input": rows})
    accuracy = float((est.predict(x_test) == y_test).mean())

    mlflow.set_tracking_uri(args.uri)
    mlflow.set_experiment("switchyard-tests")
    with mlflow.start_run() as run:
        mlflow.log_metric("accuracy", accuracy)
        mlflow.log_param("C", args.c)
        for tag in args.tag:
            key, _, value = tag.partition("=")
            mlflow.set_tag(key, value)
        info = mlflow.onnx.log_model(model, name="model", registered_model_name=args.name)
    client = MlflowClient(args.uri)
    version = info.registered_model_version
    if args.alias:
        client.set_registered_model_alias(args.name, args.alias, str(version))
    print(json.dumps({
        "version": str(version),
        "run_id": run.info.run_id,
        "metrics": {"accuracy": accuracy},
        "rows": rows.astype(float).tolist(),
        "labels": labels.astype(int).tolist(),
        "probabilities": probabilities.astype(float).tolist(),
    }))


def log_sklearn(args):
    x_train, _, y_train, _ = iris(0)
    est = LogisticRegression(max_iter=500).fit(x_train, y_train)
    mlflow.set_tracking_uri(args.uri)
    mlflow.set_experiment("switchyard-tests")
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(est, name="model", registered_model_name=args.name)
    print(json.dumps({"version": str(info.registered_model_version), "run_id": run.info.run_id}))


def set_alias(args):
    MlflowClient(args.uri).set_registered_model_alias(args.name, args.alias, args.version)
    print(json.dumps({"alias": args.alias, "version": args.version}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("uri")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("onnx")
    p.add_argument("name")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--c", type=float, default=1.0)
    p.add_argument("--alias")
    p.add_argument("--features")
    p.add_argument("--tag", action="append", default=[])
    p.set_defaults(run=log_onnx)
    p = sub.add_parser("sklearn")
    p.add_argument("name")
    p.set_defaults(run=log_sklearn)
    p = sub.add_parser("alias")
    p.add_argument("name")
    p.add_argument("alias")
    p.add_argument("version")
    p.set_defaults(run=set_alias)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    sys.exit(main())
