#!/usr/bin/env python3
"""Turns bench/results/http.json (bench/http_bench.py) into the Markdown of the HTTP section of
bench/RESULTS.md: the machine, requests/s and p50/p99 latency of every server at every
concurrency with ratios to the HTTP floor (1) and to FastAPI + scikit-learn (4), the targets,
start-up time and memory. Prints it; with --write, replaces the text between the
`<!-- http:begin -->` and `<!-- http:end -->` markers of bench/RESULTS.md.

Targets: node single generation >= 0.85x the floor's requests/s; mapping + sticky + shadow
>= 0.95x single generation; node >= 20x FastAPI + scikit-learn's requests/s at concurrency 64.
"""

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
BEGIN, END = "<!-- http:begin -->", "<!-- http:end -->"
NAMES = {
    "floor": "(1) HTTP floor: axum, constant answer",
    "node_single": "(2) Switchyard, single generation",
    "node_mapping": "(3) Switchyard, 3 generations, sticky, 10% shadow",
    "fastapi_sklearn": "(4) FastAPI + scikit-learn (pickle loaded once)",
    "fastapi_sklearn_per_request": "(4b) FastAPI + scikit-learn (pickle loaded per request)",
    "fastapi_onnxruntime": "(5) FastAPI + onnxruntime",
}


def best_runs(runs):
    """(server, concurrency) -> the run with the most requests/s."""
    out = {}
    for r in runs:
        key = (r["server"], r["concurrency"])
        if key not in out or r["rps"] > out[key]["rps"]:
            out[key] = r
    return out


def paired_ratio(runs, server, base, c):
    """Median over the rounds of server's requests/s over base's in the same round."""
    by = {(r.get("session", 0), r["round"], r["server"]): r["rps"] for r in runs if r["concurrency"] == c}
    v = [by[(se, ro, server)] / by[(se, ro, base)] for (se, ro, sv) in by if sv == server and (se, ro, base) in by]
    return statistics.median(v) if v else None


def cpu_per_request(runs, server, c):
    """Median over the rounds of the server's CPU time per request, in µs."""
    v = [r["server_cpu_s"] / r["requests"] * 1e6 for r in runs if r["server"] == server and r["concurrency"] == c]
    return statistics.median(v) if v else None


def ms(us):
    return "%.3f" % (us / 1e3) if us < 10_000 else "%.1f" % (us / 1e3)


def render(d):
    m, st = d["machine"], d["settings"]
    best = best_runs(d["runs"])
    servers = [s for s in NAMES if any(k[0] == s for k in best)]
    conc = st["concurrency"]
    lines = []
    w = lines.append
    w("### Machine and method\n")
    w(f"{m['cpus']} vCPUs ({m['cpu_model']}, KVM guest), {m['mem_gb']} GB RAM, {m['os']}, Linux {m['kernel']}; "
      f"{m['rustc']}; {m['wrk']}; Python {m['python']}, FastAPI {m['fastapi']}, uvicorn {m['uvicorn']} "
      f"(uvloop, httptools), scikit-learn {m['scikit_learn']}, onnxruntime {m['onnxruntime']}. "
      f"Commit {m['commit']}, measured {m['date_utc']}.\n")
    loads = [r["loadavg_1m"] for r in d["runs"]]
    rounds = len({(r.get("session", 0), r["round"]) for r in d["runs"]})
    sessions = d.get("sessions", [m["date_utc"]])
    w(f"Servers and load generator share the same {m['cpus']} vCPUs (nothing pinned), and the machine was "
      f"shared with another engineer's builds: the 1-minute load average was {min(loads):.1f}–{max(loads):.1f} "
      f"during the runs. wrk with one thread, closed loop, over loopback; per cell a {st['warmup_s']} s "
      f"warm-up, then {st['duration_s']} s measured; {rounds} rounds over all servers and "
      f"concurrencies ({len(sessions)} session(s) of the script: {', '.join(sessions)}); the tables show the "
      f"round with the most requests/s of each cell (all runs are in `results/http.json`). Same request everywhere: `POST {st['path']}` with `{st['body']}` and a distinct "
      f"`x-switchyard-key` per request.\n")
    w("### Requests/s and latency\n")
    w("Ratios: requests/s over the floor's (1) and over FastAPI + scikit-learn's (4) at the same "
      "concurrency; for latency, the server's p50/p99 over theirs (lower is better).\n")
    w("| server | c | req/s | ÷ (1) | ÷ (4) | p50 ms | ÷ (1) | ÷ (4) | p99 ms | ÷ (1) | ÷ (4) | server CPU µs/req |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for s in servers:
        for c in conc:
            r = best[(s, c)]
            f, p = best.get(("floor", c)), best.get(("fastapi_sklearn", c))

            def ratio(key, base):
                return "%.2f" % (r[key] / base[key]) if base else "–"

            cpu = r["server_cpu_s"] / r["requests"] * 1e6
            err = f" ({r['errors']} errors)" if r["errors"] else ""
            w(f"| {NAMES[s]} | {c} | {r['rps']:,.0f}{err} | {ratio('rps', f)} | {ratio('rps', p)} | "
              f"{ms(r['p50_us'])} | {ratio('p50_us', f)} | {ratio('p50_us', p)} | {ms(r['p99_us'])} | "
              f"{ratio('p99_us', f)} | {ratio('p99_us', p)} | {cpu:.1f} |")
    w("")
    w("### Targets\n")
    w("Judged on the median over the rounds of the requests/s ratio of the two servers measured in the same "
      "round (seconds apart), which the other builds on the machine disturb less than a ratio of two "
      "independent bests; the best-of ratio is beside it. The last column compares the servers' own CPU cost: "
      "the inverse ratio of their CPU time per request (median over the rounds).\n")
    w("| target | c | median paired ratio | | best ÷ best | CPU per request, inverse ratio |")
    w("| --- | ---: | ---: | --- | ---: | ---: |")
    missed = []

    def target(name, c, server, base, limit, cpu=None):
        value = paired_ratio(d["runs"], server, base, c)
        ok = value >= limit
        if not ok:
            missed.append(f"{name} at c={c}: {value:.2f} (target ≥ {limit})")
        bb = best[(server, c)]["rps"] / best[(base, c)]["rps"]
        w(f"| {name} ≥ {limit} | {c} | {value:.2f} | {'✅' if ok else '❌'} | {bb:.2f} | {cpu or '–'} |")

    def cpu_ratio(base, s, c):
        b, x = cpu_per_request(d["runs"], base, c), cpu_per_request(d["runs"], s, c)
        return f"{b / x:.2f} ({b:.1f} ÷ {x:.1f} µs)" if b and x else None

    for c in conc:
        if ("node_single", c) in best and ("floor", c) in best:
            target("(2) ÷ (1) requests/s", c, "node_single", "floor", 0.85, cpu_ratio("floor", "node_single", c))
    for c in conc:
        if ("node_mapping", c) in best and ("node_single", c) in best:
            target("(3) ÷ (2) requests/s", c, "node_mapping", "node_single", 0.95,
                   cpu_ratio("node_single", "node_mapping", c))
    c = max(conc)
    for s in ("node_single", "node_mapping"):
        if (s, c) in best and ("fastapi_sklearn", c) in best:
            target(f"({'2' if s == 'node_single' else '3'}) ÷ (4) requests/s", c, s, "fastapi_sklearn", 20,
                   cpu_ratio("fastapi_sklearn", s, c))
    w("")
    w("Missed: " + ("; ".join(missed) if missed else "none") + "\n")
    if "startup" in d:
        su = d["startup"]
        w("### Start-up and memory\n")
        w(f"- `switchyard serve` start to the first successful prediction (process spawn to the first 200 of "
          f"the predict route, polled every 2 ms): restart on a registry with the service deployed, median "
          f"{statistics.median(su['restart_ms']):.0f} ms (min {min(su['restart_ms']):.0f}, "
          f"{len(su['restart_ms'])} runs); first start on an empty data dir, seeding the demo (three services, five "
          f"versions uploaded, four deployed), median {statistics.median(su['fresh_demo_ms']):.0f} ms (min "
          f"{min(su['fresh_demo_ms']):.0f}).")
    if "memory" in d:
        mem = d["memory"]
        w(f"- Resident memory (VmRSS) of the node serving iris_classifier, idle: "
          f"{mem['idle_one_version_kb'] / 1024:.1f} MiB; with 50 more versions deployed and loaded (50 services, "
          f"10 distinct copies of each of the five core fixtures, deployed in {mem['deploy_50_s']:.1f} s through "
          f"the CLI): {mem['fifty_more_versions_kb'] / 1024:.1f} MiB, i.e. "
          f"{(mem['fifty_more_versions_kb'] - mem['idle_one_version_kb']) / 50:.0f} KiB per loaded version. After "
          f"a restart with those 51 deployments: {mem['restart_51_deployments_kb'] / 1024:.1f} MiB, first "
          f"prediction after {mem['restart_51_deployments_first_prediction_ms']:.0f} ms.")
    rss = d["rss_kb"]
    w("- Resident memory of each server, idle after start / after the load runs: " + "; ".join(
        f"{s} {rss['idle'][s] / 1024:.0f} / {rss['after_load'][s] / 1024:.0f} MiB" for s in servers) + ".")
    w("")
    return "\n".join(lines)


def main():
    d = json.loads((ROOT / "results/http.json").read_text())
    text = render(d)
    if "--write" in sys.argv:
        path = ROOT / "RESULTS.md"
        doc = path.read_text()
        start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
        path.write_text(doc[:start] + "\n" + text + "\n" + doc[end:])
    else:
        print(text)


if __name__ == "__main__":
    main()
