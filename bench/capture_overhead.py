#!/usr/bin/env python3
"""What traffic capture costs the request path: the node with capture off, at 10 % and at 100 %.

Same method as bench/pinned_bench.py (the server pinned to its core(s) with `taskset`, wrk
on others, a warm-up run, server CPU per request from /proc/PID/stat, rounds alternating the
servers, medians over rounds). Three `switchyard serve` nodes, iris deployed as one
generation, differing only in the deployment's capture policy (`switchyard capture policy
iris --percent P`). After the rounds each node's capture status says how many rows it stored
and how many it dropped (a full queue drops rows, never waits).

Needs the release `switchyard` ($CARGO_TARGET_DIR/release/switchyard, e.g. from
scripts/package.sh with CARGO_TARGET_DIR=~/.cache/switchyard/target-release) and wrk. Usage:

    CARGO_TARGET_DIR=~/.cache/switchyard/target-release \\
        python bench/capture_overhead.py --server 0 --load 1 [--duration 10] [--rounds 3]

Writes bench/results/capture_overhead.json and prints the table for bench/RESULTS.md.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_bench as hb  # noqa: E402
import pinned_bench as pb  # noqa: E402

POLICIES = {"capture_off": None, "capture_10": 10, "capture_100": 100}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", default="0", help="cores of the servers (taskset list)")
    ap.add_argument("--load", default="1", help="cores of wrk (taskset list)")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", default="64,256")
    ap.add_argument("--out", default=str(hb.ROOT / "bench/results/capture_overhead.json"))
    args = ap.parse_args()
    sy = hb.switchyard_binary()
    workdir = Path(tempfile.mkdtemp(prefix="switchyard-capture-bench-"))
    script = workdir / "predict.lua"
    script.write_text(hb.WRK_SCRIPT)
    pin = ["taskset", "-c", args.server]
    env = {"TOKIO_WORKER_THREADS": str(len(args.server.split(",")))}
    servers = [hb.Server(name, pin + [str(sy), "serve", "--bind", "127.0.0.1:{port}", "--no-demo", "--data-dir",
                                      str(workdir / name)], workdir, env) for name in POLICIES]
    concurrency = [int(c) for c in args.concurrency.split(",")]
    runs, status = [], {}
    try:
        for s in servers:
            started = s.start()
            while hb.http("GET", s.url + "/v2/health/live")[0] != 200:
                time.sleep(0.01)
            hb.setup_single(sy, s.url, workdir)
            if POLICIES[s.name] is not None:
                hb.cli(sy, s.url, "capture", "policy", hb.SERVICE, "--percent", str(POLICIES[s.name]))
            s.wait_answer(started)
        for rnd in range(args.rounds):
            for c in concurrency:
                # Each round starts with another node, so no node always runs right after another.
                for s in servers[rnd % len(servers):] + servers[:rnd % len(servers)]:
                    r = pb.run(s, hb.PATH, c, args, script)
                    r.update(server=s.name, concurrency=c, round=rnd)
                    runs.append(r)
                    print(f"round {rnd} c={c:<3} {s.name:<12} {r['rps']:>8.0f} req/s  p99 {r['p99_us'] / 1e3:6.3f} ms"
                          f"  {r['cpu_us_per_request']:6.2f} CPU µs/req  errors {r['errors']}", flush=True)
        for s in servers:
            code, body = hb.http("GET", f"{s.url}/admin/v1/deployments/{hb.SERVICE}/capture")
            status[s.name] = json.loads(body) if code == 200 else {"error": code}
    finally:
        for s in servers:
            s.stop()
    result = {"machine": hb.machine(peers=False), "server_cores": args.server, "load_cores": args.load,
              "settings": {"duration_s": args.duration, "warmup_s": args.warmup, "rounds": args.rounds},
              "runs": runs, "capture_status": status}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {args.out}\n")
    # "÷ off, paired": the median over rounds of each round's req/s against the capture-off
    # node's in the same round (the machine's speed drifts between rounds; within one it
    # drifts less).
    print("| c | capture | req/s | ÷ off | ÷ off, paired | p99 ms | server CPU µs/req |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for c in concurrency:
        cell = {s.name: [r for r in runs if r["server"] == s.name and r["concurrency"] == c] for s in servers}
        off = pb.median(cell["capture_off"], "rps")
        off_by_round = {r["round"]: r["rps"] for r in cell["capture_off"]}
        for name, rs in cell.items():
            paired = statistics.median(r["rps"] / off_by_round[r["round"]] for r in rs)
            print(f"| {c} | {name} | {pb.median(rs, 'rps'):,.0f} | {pb.median(rs, 'rps') / off:.3f} | {paired:.3f} | "
                  f"{pb.median(rs, 'p99_us') / 1e3:.3f} | {pb.median(rs, 'cpu_us_per_request'):.2f} |")
    for name, st in status.items():
        print(f"{name}: stored {st.get('stored')}, dropped {st.get('dropped')}")


if __name__ == "__main__":
    main()
