#!/usr/bin/env python3
"""Release profile comparison: size and start-up of `switchyard` binaries built with different
`[profile.release]` settings (request throughput: bench/pinned_bench.py --compare).

For each binary, measured in alternation so that the machine's load hits them alike:
- size on disk, and stripped (`strip`; what a package ships);
- `switchyard --version`: process start to exit (wall ms, fork and exec included);
- `switchyard serve` start to the first 200 of the predict route, restarting on a registry
  with iris deployed, and first start on an empty data dir (demo seeding): bench/http_bench.py's
  `startup`.

    python bench/release_profile.py before=/tmp/switchyard-default after=target-release/release/switchyard

Writes bench/results/release_profile.json and prints a table for bench/RESULTS.md.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_bench as hb  # noqa: E402  (servers, set-up and start-up timing are shared)


def version_ms(binary):
    t = time.perf_counter()
    subprocess.run([binary, "--version"], check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - t) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binaries", nargs="+", help="NAME=PATH")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--out", default=str(hb.ROOT / "bench/results/release_profile.json"))
    args = ap.parse_args()
    bins = dict(b.split("=", 1) for b in args.binaries)
    workdir = Path(tempfile.mkdtemp(prefix="switchyard-release-profile-"))
    result = {"machine": hb.machine(peers=False), "repeats": args.repeats, "binaries": {}}
    for name, path in bins.items():
        stripped = workdir / f"{name}.stripped"
        shutil.copy(path, stripped)
        subprocess.run(["strip", str(stripped)], check=True)
        result["binaries"][name] = {"path": path, "bytes": os.path.getsize(path),
                                    "stripped_bytes": os.path.getsize(stripped),
                                    "version_ms": [], "restart_ms": [], "fresh_demo_ms": []}
    try:
        # A registry with iris deployed, per binary (its own schema and artifacts).
        for name, path in bins.items():
            (workdir / name).mkdir()
            data = workdir / f"{name}-registry"
            s = hb.Server(f"{name}-setup", [path, "serve", "--bind", "127.0.0.1:{port}", "--no-demo",
                                            "--data-dir", str(data)], workdir)
            started = s.start()
            while hb.http("GET", s.url + "/v2/health/live")[0] != 200:
                time.sleep(0.01)
            hb.setup_single(path, s.url, workdir)
            s.wait_answer(started)
            s.stop()
        for _ in range(args.repeats):
            for name, path in bins.items():
                r = result["binaries"][name]
                r["version_ms"].extend(version_ms(path) for _ in range(5))
                up = hb.startup(path, workdir / name, workdir / f"{name}-registry", 1)
                r["restart_ms"] += up["restart_ms"]
                r["fresh_demo_ms"] += up["fresh_demo_ms"]
                shutil.rmtree(workdir / name / "fresh-0", ignore_errors=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}\n")
    print("| binary | size MiB | stripped MiB | `--version` ms (median / min) | serve restart to first answer ms | first start, demo seeded ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in result["binaries"].items():
        def mm(key):
            return f"{statistics.median(r[key]):.1f} / {min(r[key]):.1f}"
        print(f"| {name} | {r['bytes'] / 2**20:.1f} | {r['stripped_bytes'] / 2**20:.1f} | {mm('version_ms')} | "
              f"{mm('restart_ms')} | {mm('fresh_demo_ms')} |")


if __name__ == "__main__":
    main()
