#!/usr/bin/env python3
"""Times Switchyard's peers on the compatibility corpus: onnxruntime (Python API, one
thread: intra_op_num_threads=1, inter_op_num_threads=1) running the same ONNX files, and
scikit-learn's `predict` on the estimators the files were exported from (retrained with the
fixture generator's seeds, so they are the same models).

Run from the project root with the fixtures' venv (see fixtures/README.md):

    python bench/peers.py

Rows are those of fixtures/corpus/expected/<model>.json: the first row for the one-row
timing, the first 64 for the batch. Each measurement runs samples of consecutive calls
(about 2 ms each) for about 0.6 s and keeps the best sample's time per call (and the
median). Writes bench/results/peers.json.
"""

import json
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import sklearn  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.dont_write_bytecode = True
sys.path.insert(0, str(ROOT / "fixtures"))
import corpus  # noqa: E402
import generate  # noqa: E402

BUDGET = 0.6
SAMPLE = 0.002
BATCH = 64


def best_time(f):
    """Time per call: (best, median) over samples of consecutive calls of about SAMPLE
    seconds; the best is compared (the machine is shared), as in bench/inference.rs."""
    t = time.perf_counter()
    f()
    one = max(time.perf_counter() - t, 5e-8)
    calls = int(min(max(SAMPLE / one, 1), 100000))
    samples = []
    start = time.perf_counter()
    while len(samples) < 5 or time.perf_counter() - start < BUDGET:
        t = time.perf_counter()
        for _ in range(calls):
            f()
        samples.append((time.perf_counter() - t) / calls)
    samples.sort()
    return samples[0], samples[len(samples) // 2]


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def estimators():
    """file stem -> fitted scikit-learn estimator, as the fixture generator trains them."""
    dss = generate.load_datasets()
    dss = corpus.corpus_datasets(dss, generate.snake, generate.RANDOM_STATE, generate.TEST_SIZE)
    out = {}
    for stem, ds, est, _what in corpus.specs(dss, generate.RANDOM_STATE):
        corpus.fit(est, ds)
        out[stem] = est
        out[stem + "_nozipmap"] = est
    return out


def core_estimators():
    """"core/<stem>" -> fitted estimator of the five core-op fixtures (fixtures/models/)."""
    dss = generate.load_datasets()
    out = {}
    for model_file, ds, est, _what in generate.core_specs(dss):
        generate.fit(est, ds)
        out["core/" + model_file[: -len(".onnx")]] = est
    return out


def main():
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    ests = {**estimators(), **core_estimators()}
    # the corpus, then the five core-op fixtures (named core/<stem>, as bench/inference.rs does)
    models = [(p.stem, p, ROOT / "fixtures/corpus/models") for p in
              sorted((ROOT / "fixtures/corpus/expected").glob("*.json"))]
    models += [("core/" + stem, ROOT / f"fixtures/expected/{stem}.json", ROOT / "fixtures/models") for stem in
               ("iris_logreg", "iris_mlp", "breast_cancer_logreg", "breast_cancer_mlp", "diabetes_linear")]
    results = []
    print("%-42s %12s %12s %12s %12s" % ("model", "ort 1 µs", "ort 64 µs", "skl 1 µs", "skl 64 µs"))
    for name, exp_path, model_dir in models:
        if only not in name:
            continue
        exp = json.loads(exp_path.read_text())
        rows = np.array(exp["rows"], dtype=np.float32)
        one, batch = rows[:1], np.resize(rows, (BATCH, rows.shape[1]))
        sess = session(model_dir / exp["model"])
        feed = sess.get_inputs()[0].name
        ort_one, ort_one_median = best_time(lambda: sess.run(None, {feed: one}))
        ort_batch, ort_batch_median = best_time(lambda: sess.run(None, {feed: batch}))
        est = ests[name]
        x1, x64 = one.astype(np.float64), batch.astype(np.float64)
        skl_one, _ = best_time(lambda: est.predict(x1))
        skl_batch, _ = best_time(lambda: est.predict(x64))
        print("%-42s %12.2f %12.1f %12.1f %12.1f" % (name, ort_one * 1e6, ort_batch * 1e6, skl_one * 1e6, skl_batch * 1e6))
        results.append(dict(model=name, ort_one_row_us=ort_one * 1e6, ort_batch_us=ort_batch * 1e6,
                            ort_one_row_median_us=ort_one_median * 1e6, ort_batch_median_us=ort_batch_median * 1e6,
                            sklearn_one_row_us=skl_one * 1e6, sklearn_batch_us=skl_batch * 1e6, batch=BATCH))
    out = dict(onnxruntime=ort.__version__, sklearn=sklearn.__version__, python=sys.version.split()[0],
               models=results)
    if not only:
        (ROOT / "bench/results").mkdir(parents=True, exist_ok=True)
        (ROOT / "bench/results/peers.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
