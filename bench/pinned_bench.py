#!/usr/bin/env python3
"""Pinned HTTP benchmark: what one request costs the server, against the HTTP floor.

The server runs on its own core(s) (`taskset -c SERVER`) and wrk on others (`--load`), so the
load generator never takes the server's CPU. For each server and concurrency:

- requests/s, p50 and p99 (wrk, one thread, closed loop, after a warm-up run);
- server CPU per request: user + system time of the server process over the measured run
  (`/proc/PID/stat`) divided by the requests answered. Pinning makes this stable even on a
  busy machine; it is the figure the request-path targets are judged by.

Servers (all started first, idle while another is measured):
1. `floor`: bench/floor.rs, the node's axum stack answering a constant body;
2. `node_single`: `switchyard serve`, iris deployed as one generation;
3. `node_mapping`: three generations 0.5/0.3/0.2, sticky, 10 % shadow to a fourth version
   (four distinct artifacts of the same model).
The request is bench/http_bench.py's (one iris row, a distinct `x-switchyard-key` each).
Then Open Inference Protocol `infer` on node_single with 1 and 64 rows: rows/s.

Rounds alternate the servers, and the median over rounds is reported.

Needs: `cargo bench --bench floor --no-run` (release `switchyard` and the floor), wrk, and a
Python with `onnx` (for the distinct artifacts of the mapping; e.g. a venv with `pip install
onnx`). Usage:

    python bench/pinned_bench.py --server 0 --load 1 [--duration 10] [--rounds 3]

Writes bench/results/pinned.json and prints the tables for bench/RESULTS.md.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_bench as hb  # noqa: E402  (the servers, set-up and wrk script are shared)

ROOT = hb.ROOT
OIP_PATH = f"/v2/models/{hb.SERVICE}/infer"
ROW = [5.1, 3.5, 1.4, 0.2]

def oip_body(rows):
    data = [ROW] * rows
    return json.dumps({"inputs": [{"name": "float_input", "shape": [rows, 4], "datatype": "FP32", "data": data}]},
                      separators=(",", ":"))


def oip_script(rows):
    """wrk script posting one OIP infer body (the summary line of http_bench's script)."""
    done = hb.WRK_SCRIPT[hb.WRK_SCRIPT.index("done = function"):]
    return "wrk.method = \"POST\"\nwrk.body = '%s'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n%s" % (
        oip_body(rows), done)


def wrk(url, path, concurrency, seconds, script, cores):
    out = subprocess.run(
        ["taskset", "-c", cores, "wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s",
         "-s", str(script), url + path],
        check=True, capture_output=True, text=True,
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WRKJSON "))
    r = json.loads(line[len("WRKJSON "):])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = sum(r[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    return r


def run(server, path, concurrency, args, script):
    wrk(server.url, path, concurrency, args.warmup, script, args.load)
    cpu0 = hb.cpu_seconds(server.proc.pid)
    r = wrk(server.url, path, concurrency, args.duration, script, args.load)
    r["server_cpu_s"] = hb.cpu_seconds(server.proc.pid) - cpu0
    r["cpu_us_per_request"] = r["server_cpu_s"] / max(r["requests"], 1) * 1e6
    return r


def median(runs, key):
    return statistics.median(r[key] for r in runs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", default="0", help="cores of the servers (taskset list)")
    ap.add_argument("--load", default="1", help="cores of wrk (taskset list)")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", default="64,256")
    ap.add_argument("--compare", default="", help="another `switchyard` binary (e.g. an earlier commit's): "
                    "its single and mapping nodes join the rounds as before_single and before_mapping")
    ap.add_argument("--out", default=str(ROOT / "bench/results/pinned.json"))
    args = ap.parse_args()
    sy, floor = hb.switchyard_binary(), hb.floor_binary()
    workdir = Path(tempfile.mkdtemp(prefix="switchyard-pinned-bench-"))
    predict_script = workdir / "predict.lua"
    predict_script.write_text(hb.WRK_SCRIPT)
    oip_scripts = {}
    for rows in (1, 64):
        oip_scripts[rows] = workdir / f"oip{rows}.lua"
        oip_scripts[rows].write_text(oip_script(rows))
    pin = ["taskset", "-c", args.server]
    node = pin + [str(sy), "serve", "--bind", "127.0.0.1:{port}", "--no-demo", "--data-dir"]
    servers = [
        hb.Server("floor", pin + [str(floor), "127.0.0.1:{port}"], workdir),
        hb.Server("node_single", node + [str(workdir / "node-single")], workdir),
        hb.Server("node_mapping", node + [str(workdir / "node-mapping")], workdir),
    ]
    if args.compare:
        old = pin + [args.compare, "serve", "--bind", "127.0.0.1:{port}", "--no-demo", "--data-dir"]
        servers += [hb.Server("before_single", old + [str(workdir / "before-single")], workdir),
                    hb.Server("before_mapping", old + [str(workdir / "before-mapping")], workdir)]
    env = {"TOKIO_WORKER_THREADS": str(len(args.server.split(",")))}
    for s in servers:
        s.env = env
    concurrency = [int(c) for c in args.concurrency.split(",")]
    runs = []
    try:
        for s in servers:
            started = s.start()
            if s.name != "floor":
                while hb.http("GET", s.url + "/v2/health/live")[0] != 200:
                    time.sleep(0.01)
                (hb.setup_single if s.name.endswith("_single") else hb.setup_mapping)(sy, s.url, workdir)
            s.wait_answer(started)
        for rnd in range(args.rounds):
            for c in concurrency:
                for s in servers:
                    r = run(s, hb.PATH, c, args, predict_script)
                    r.update(server=s.name, concurrency=c, round=rnd, kind="predict")
                    runs.append(r)
                    print(f"round {rnd} c={c:<3} {s.name:<13} {r['rps']:>8.0f} req/s  p50 {r['p50_us'] / 1e3:6.3f} ms"
                          f"  p99 {r['p99_us'] / 1e3:6.3f} ms  {r['cpu_us_per_request']:6.2f} CPU µs/req"
                          f"  errors {r['errors']}", flush=True)
            for single in [s for s in servers if s.name.endswith("_single")]:
                for rows, script in oip_scripts.items():
                    r = run(single, OIP_PATH, 64, args, script)
                    r.update(server=single.name, concurrency=64, round=rnd, kind=f"oip_{rows}", rows=rows,
                             rows_per_s=r["rps"] * rows)
                    runs.append(r)
                    print(f"round {rnd} {single.name:<13} OIP infer {rows:>2} rows: {r['rows_per_s']:>9.0f} rows/s"
                          f"  {r['cpu_us_per_request'] / rows:6.2f} CPU µs/row  errors {r['errors']}", flush=True)
    finally:
        for s in servers:
            s.stop()
    result = {"machine": hb.machine(peers=False), "server_cores": args.server, "load_cores": args.load,
              "settings": {"duration_s": args.duration, "warmup_s": args.warmup, "rounds": args.rounds}, "runs": runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {args.out}\n")
    print("| c | server | req/s | p50 ms | p99 ms | server CPU µs/req | ÷ floor (req/s) |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for c in concurrency:
        cell = {s.name: [r for r in runs if r["kind"] == "predict" and r["server"] == s.name
                         and r["concurrency"] == c] for s in servers}
        floor_rps = median(cell["floor"], "rps")
        for name, rs in cell.items():
            print(f"| {c} | {name} | {median(rs, 'rps'):,.0f} | {median(rs, 'p50_us') / 1e3:.3f} | "
                  f"{median(rs, 'p99_us') / 1e3:.3f} | {median(rs, 'cpu_us_per_request'):.2f} | "
                  f"{median(rs, 'rps') / floor_rps:.2f} |")
    for name in sorted({r["server"] for r in runs if r["kind"] == "oip_1"}):
        one = [r for r in runs if r["kind"] == "oip_1" and r["server"] == name]
        many = [r for r in runs if r["kind"] == "oip_64" and r["server"] == name]
        print(f"{name}: OIP infer rows/s, 1 row {median(one, 'rows_per_s'):,.0f}, 64 rows "
              f"{median(many, 'rows_per_s'):,.0f} ({median(many, 'rows_per_s') / median(one, 'rows_per_s'):.1f}×)")

if __name__ == "__main__":
    main()
