#!/usr/bin/env python3
"""Latency while swapping: how much a deployment swap under load costs the requests around it.

tests/load.rs checks that rolling iris_classifier forward and back 100 times under 32
connections fails no request and answers only from live generations; it asserts no latency.
This script measures the latency side, which a test on a shared 2-core machine cannot assert
without flaking.

Method: `switchyard serve` with the demo data on a loopback port (a fresh data dir). 32 client
threads, each with its own keep-alive connection, send `POST /v1/services/iris_classifier/predict`
with one iris row in a closed loop for the whole run. Time is cut into windows of 250 ms that
alternate steady / swapping; in swapping windows the main thread swaps back to back (deploy v2,
then roll back to v1, …) through the admin API until `--swaps` swaps are done; steady windows
have no admin call. Each request counts in the window it started in, so background noise on
the machine lands in both samples alike. Per round: p50, p99 and p99.9 of each sample and the
ratio swapping p99 / steady p99 (the old test's target: at most 2). Rounds repeat the whole run
on a new node; the JSON has every round.

The clients are Python threads (one GIL): the load generator adds its own latency to both
samples alike; compare the two samples, not the absolute numbers with bench/RESULTS.md's HTTP
table (wrk).

Needs a built `switchyard` (`cargo build --release --bin switchyard`, or the debug one
`cargo test` builds; `--bin` picks one, default: release if present, else debug, in
$CARGO_TARGET_DIR or target/). Standard library only:

    python bench/swap_latency.py [--bin PATH] [--rounds 3] [--swaps 100] [--connections 32]

Writes bench/results/swap_latency.json.
"""

import argparse
import http.client
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
SERVICE = "iris_classifier"
BODY = json.dumps({"features": {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}})
HEADERS = {"content-type": "application/json"}


def default_bin():
    for profile in ("release", "debug"):
        path = TARGET / profile / "switchyard"
        if path.exists():
            return path
    sys.exit(f"no switchyard binary in {TARGET}/release or {TARGET}/debug: build one or pass --bin")


def start_node(binary, data_dir):
    proc = subprocess.Popen(
        [str(binary), "serve", "--bind", "127.0.0.1:0", "--data-dir", data_dir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RUST_LOG": "info", "NO_COLOR": "1"},
    )
    deadline = time.monotonic() + 60
    for line in proc.stderr:
        found = re.search(r"listening on http://([0-9.]+):(\d+)", line)
        if found:
            # Keep draining stderr so the node never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, found.group(1), int(found.group(2))
        if time.monotonic() > deadline:
            break
    proc.kill()
    sys.exit("the node did not start")


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[i]


def one_round(binary, connections, swaps, window):
    with tempfile.TemporaryDirectory() as data_dir:
        proc, host, port = start_node(binary, data_dir)
        try:
            return measure(host, port, connections, swaps, window)
        finally:
            proc.kill()
            proc.wait()


def measure(host, port, connections, swaps, window):
    start = time.monotonic()

    def swapping(t):
        return int((t - start) / window) % 2 == 1

    done = threading.Event()
    samples = [([], []) for _ in range(connections)]  # per client: (steady µs, swapping µs)
    failures = []

    def client(i):
        conn = http.client.HTTPConnection(host, port, timeout=60)
        steady, swap = samples[i]
        while not done.is_set():
            t0 = time.monotonic()
            try:
                conn.request("POST", f"/v1/services/{SERVICE}/predict", BODY, HEADERS)
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except OSError as e:
                failures.append(str(e))
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=60)
                continue
            us = (time.monotonic() - t0) * 1e6
            if not ok:
                failures.append(f"status {r.status}")
            elif swapping(t0):
                swap.append(us)
            else:
                steady.append(us)
        conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(connections)]
    for t in threads:
        t.start()
    admin = http.client.HTTPConnection(host, port, timeout=60)
    time.sleep(window)  # warm-up: one steady window
    done_swaps = 0
    while done_swaps < swaps:
        if not swapping(time.monotonic()):
            time.sleep(0.005)
            continue
        if done_swaps % 2 == 0:
            body = json.dumps({"config": {"mode": "single", "generation": "v2"}, "reason": "bench"})
            admin.request("PUT", f"/admin/v1/deployments/{SERVICE}", body, HEADERS)
        else:
            admin.request("POST", f"/admin/v1/deployments/{SERVICE}/rollback", json.dumps({"reason": "bench"}), HEADERS)
        r = admin.getresponse()
        r.read()
        if r.status != 200:
            sys.exit(f"swap {done_swaps}: status {r.status}")
        done_swaps += 1
    time.sleep(2 * window)  # end on a full steady window
    done.set()
    for t in threads:
        t.join()
    steady = sorted(v for s, _ in samples for v in s)
    swap = sorted(v for _, w in samples for v in w)
    stats = {}
    for name, values in (("steady", steady), ("swapping", swap)):
        stats[name] = {
            "n": len(values),
            "p50_ms": percentile(values, 0.5) / 1000,
            "p99_ms": percentile(values, 0.99) / 1000,
            "p999_ms": percentile(values, 0.999) / 1000,
        }
    stats["p99_ratio"] = stats["swapping"]["p99_ms"] / stats["steady"]["p99_ms"]
    stats["seconds"] = time.monotonic() - start
    stats["failures"] = len(failures)
    return stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", type=Path, default=None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--swaps", type=int, default=100)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--window", type=float, default=0.25, help="seconds per steady or swapping window")
    args = ap.parse_args()
    binary = args.bin or default_bin()
    rounds = []
    for i in range(args.rounds):
        stats = one_round(binary, args.connections, args.swaps, args.window)
        rounds.append(stats)
        s, w = stats["steady"], stats["swapping"]
        print(
            f"round {i + 1}: steady n={s['n']} p50={s['p50_ms']:.2f} p99={s['p99_ms']:.2f} p99.9={s['p999_ms']:.2f} ms; "
            f"swapping n={w['n']} p50={w['p50_ms']:.2f} p99={w['p99_ms']:.2f} p99.9={w['p999_ms']:.2f} ms; "
            f"p99 ratio {stats['p99_ratio']:.2f}; failures {stats['failures']}"
        )
    ratios = sorted(r["p99_ratio"] for r in rounds)
    print(f"median p99 ratio (swapping / steady) over {len(rounds)} rounds: {ratios[len(ratios) // 2]:.2f} (target <= 2)")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    out = {
        "binary": str(binary),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "load_average_at_end": load,
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "connections": args.connections,
        "swaps": args.swaps,
        "window_s": args.window,
        "rounds": rounds,
    }
    path = ROOT / "bench/results/swap_latency.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
