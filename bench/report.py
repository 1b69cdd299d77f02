#!/usr/bin/env python3
"""Merges bench/results/switchyard.json (cargo bench --bench inference) and
bench/results/peers.json (bench/peers.py) into the Markdown table of bench/RESULTS.md,
printed on stdout, with the ratios against the targets:

  - Switchyard <= 1.0x onnxruntime's time for one row,
  - Switchyard <= 1.5x onnxruntime's time for 64 rows,
  - a 100-tree forest <= 20 us per row (one row and per row of the batch).
"""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def main():
    ours = json.loads((ROOT / "results/switchyard.json").read_text())
    peers = json.loads((ROOT / "results/peers.json").read_text())
    by_name = {m["model"]: m for m in peers["models"]}
    print("| model | Switchyard 1 row µs | onnxruntime 1 row µs | ratio (≤ 1.0) | Switchyard 64 rows µs "
          "| onnxruntime 64 rows µs | ratio (≤ 1.5) | scikit-learn 1 row µs | scikit-learn 64 rows µs |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    missed = []
    for m in ours["models"]:
        p = by_name.get(m["model"])
        if p is None:
            continue
        r1 = m["one_row_us"] / p["ort_one_row_us"]
        r64 = m["batch_us"] / p["ort_batch_us"]
        ok1 = "✅" if r1 <= 1.0 else "❌"
        ok64 = "✅" if r64 <= 1.5 else "❌"
        if r1 > 1.0:
            missed.append("%s 1 row (%.2fx)" % (m["model"], r1))
        if r64 > 1.5:
            missed.append("%s 64 rows (%.2fx)" % (m["model"], r64))
        print("| %s | %.2f | %.2f | %.2f %s | %.1f | %.1f | %.2f %s | %.0f | %.0f |" % (
            m["model"], m["one_row_us"], p["ort_one_row_us"], r1, ok1, m["batch_us"], p["ort_batch_us"],
            r64, ok64, p["sklearn_one_row_us"], p["sklearn_batch_us"]))
    print()
    for m in ours["models"]:
        if m["model"].endswith("rf100"):
            print("- %s: %.2f µs for one row, %.2f µs per row in a batch of 64 (target ≤ 20 µs)" % (
                m["model"], m["one_row_us"], m["batch_us"] / m["batch"]))
    print()
    print("Missed targets: %s" % (", ".join(missed) if missed else "none"))


if __name__ == "__main__":
    main()
