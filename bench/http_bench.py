#!/usr/bin/env python3
"""HTTP benchmark: the Switchyard node against the HTTP floor and the Python serving designs,
side by side on this machine, on loopback, the same model and the same request.

Servers (each on its own loopback port, all started first and left idle while another is
measured; nothing is pinned: servers and the load generator share the machine's CPUs):

1. `floor`: bench/floor.rs, an axum handler answering a constant JSON body (the HTTP floor);
2. `node_single`: `switchyard serve`, iris_classifier deployed as one generation;
3. `node_mapping`: `switchyard serve`, three generations 0.5/0.3/0.2, sticky, 10% shadow to
   a fourth version (four distinct artifacts of the same model);
4. `fastapi_sklearn`: FastAPI + uvicorn + the pickled scikit-learn estimator, loaded once
   per process; `fastapi_sklearn_per_request`: the same, loading the pickle per request;
5. `fastapi_onnxruntime`: FastAPI + uvicorn + onnxruntime on the same ONNX file.

Model: fixtures/models/iris_logreg.onnx (the demo's iris_classifier v1); the scikit-learn
peer uses the estimator fixtures/generate.py exports there, retrained with the same seed and
pickled here. Request: `POST /v1/services/iris_classifier/predict` with one iris row, and a
distinct `x-switchyard-key` header per request (all servers get it; only (3) uses it).

Load: wrk (Debian's), one thread, closed loop, at concurrency 1, 16 and 64: a warm-up run,
then a measured run, for every server in turn; the rounds repeat the whole sweep and the
round with the most requests/s of each cell is shown (the machine is shared with other
builds; every run is in the JSON), and the targets are judged on the median over the rounds of
ratios paired within a round. `--append` adds a session's rounds to an earlier one's.
Also: `switchyard serve` start to first successful prediction, and resident memory (VmRSS)
idle and with 50 more versions deployed.

Needs: `cargo bench --bench floor --no-run` (builds bench/floor.rs and the release
`switchyard` binary, in $CARGO_TARGET_DIR or target/), `wrk` on PATH, and a Python with
fastapi, uvicorn[standard], scikit-learn, onnx, onnxruntime (run this script with it):

    python bench/http_bench.py [--duration 10] [--warmup 3] [--rounds 2]
    python bench/http_report.py --write      # tables into bench/RESULTS.md

Writes bench/results/http.json.
"""

import argparse
import json
import os
import pickle
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
MODEL = ROOT / "fixtures/models/iris_logreg.onnx"
SERVICE = "iris_classifier"
PATH = f"/v1/services/{SERVICE}/predict"
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
BODY = json.dumps({"features": ROW}, separators=(",", ":"))
CONCURRENCY = (1, 16, 64)
CORE_FIXTURES = ("iris_logreg", "iris_mlp", "breast_cancer_logreg", "breast_cancer_mlp", "diabetes_linear")

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '%s'
wrk.headers["Content-Type"] = "application/json"
local prefix = ""
local n = 0
init = function(args)
  math.randomseed(os.time())
  prefix = "customer-" .. tostring(math.random(1, 1000000000)) .. "-"
end
request = function()
  n = n + 1
  wrk.headers["x-switchyard-key"] = prefix .. n
  return wrk.format()
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%%d,"duration_us":%%d,"connect_errors":%%d,' ..
    '"read_errors":%%d,"write_errors":%%d,"status_errors":%%d,"timeouts":%%d,"p50_us":%%.0f,' ..
    '"p90_us":%%.0f,"p99_us":%%.0f,"p999_us":%%.0f,"mean_us":%%.1f,"max_us":%%.0f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max))
end
""" % BODY


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=10):
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, ConnectionError, socket.timeout):
        return None, b""


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def floor_binary():
    found = [p for p in (TARGET / "release/deps").glob("floor-*") if p.suffix == "" and os.access(p, os.X_OK)]
    if not found:
        sys.exit("no floor binary: run `cargo bench --bench floor --no-run` first")
    return max(found, key=lambda p: p.stat().st_mtime)


def switchyard_binary():
    path = TARGET / "release/switchyard"
    if not path.exists():
        sys.exit(f"no {path}: run `cargo bench --bench floor --no-run` first")
    return path


class Server:
    def __init__(self, name, cmd, workdir, env=None):
        self.name, self.cmd, self.env = name, cmd, env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / f"{name}.log", "wb")
        self.proc = None

    def start(self):
        cmd = [c.replace("{port}", str(self.port)) for c in self.cmd]
        env = dict(os.environ, **(self.env or {}))
        started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        return started

    def wait_answer(self, started, timeout=60.0, path=PATH):
        """Polls the predict route until it answers 200; seconds since `started`."""
        while time.perf_counter() - started < timeout:
            status, body = http("POST", self.url + path, BODY, {"Content-Type": "application/json"}, timeout=2)
            if status == 200:
                return time.perf_counter() - started, json.loads(body)
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see its log")
            time.sleep(0.002)
        raise RuntimeError(f"{self.name} did not answer within {timeout}s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------- set-up


def onnx_copies(workdir, stem, count, tag):
    """`count` distinct files of one fixture (a metadata entry differs, the model does not),
    so each version is its own artifact and its own loaded model."""
    import onnx

    out = []
    for i in range(count):
        model = onnx.load(str(ROOT / f"fixtures/models/{stem}.onnx"))
        entry = model.metadata_props.add()
        entry.key, entry.value = "switchyard.bench.copy", f"{tag}-{i}"
        path = workdir / f"{stem}-{tag}-{i}.onnx"
        onnx.save(model, str(path))
        out.append(path)
    return out


def cli(sy, node, *args):
    subprocess.run([str(sy), *args, "--node", node], check=True, stdout=subprocess.DEVNULL, cwd=ROOT)


def put_deployment(node, service, config):
    status, body = http("PUT", f"{node}/admin/v1/deployments/{service}",
                        json.dumps({"config": config, "reason": "bench/http_bench.py"}),
                        {"Content-Type": "application/json"})
    if status != 200:
        raise RuntimeError(f"deploy {service}: {status} {body[:300]!r}")


def setup_single(sy, node, workdir):
    cli(sy, node, "service", "create", SERVICE, "--description", "iris, bench")
    cli(sy, node, "version", "add", SERVICE, str(MODEL))
    cli(sy, node, "deploy", SERVICE, "v1", "--reason", "bench/http_bench.py")


def setup_mapping(sy, node, workdir):
    cli(sy, node, "service", "create", SERVICE, "--description", "iris, bench")
    for path in onnx_copies(workdir, "iris_logreg", 4, "mapping"):
        cli(sy, node, "version", "add", SERVICE, str(path))
    put_deployment(node, SERVICE, {
        "mode": "multiple",
        "mapping": [{"generation": "v1", "proba": 0.5}, {"generation": "v2", "proba": 0.3},
                    {"generation": "v3", "proba": 0.2}],
        "sticky": True,
        "shadow": {"generation": "v4", "percent": 10},
    })


def write_pickle(workdir):
    """The estimator behind fixtures/models/iris_logreg.onnx, trained as fixtures/generate.py
    trains it, pickled as the tutorials do."""
    sys.dont_write_bytecode = True
    sys.path.insert(0, str(ROOT / "fixtures"))
    import generate
    _file, ds, est, _what = next(s for s in generate.core_specs(generate.load_datasets()) if s[0] == MODEL.name)
    generate.fit(est, ds)
    expected = json.loads((ROOT / "fixtures/expected/iris_logreg.json").read_text())
    import numpy as np

    got = est.predict_proba(np.array(expected["rows"]))
    if not np.allclose(got, np.array(expected["probabilities"]), atol=1e-5):
        raise RuntimeError("the retrained estimator is not the fixture's model")
    path = workdir / "iris_logreg.pkl"
    with open(path, "wb") as f:
        pickle.dump(est, f)
    return path


# ---------------------------------------------------------------------------- load


def wrk(url, concurrency, seconds, script):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url + PATH],
        check=True, capture_output=True, text=True,
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(ln for ln in out.splitlines() if ln.startswith("WRKJSON "))
    r = json.loads(line[len("WRKJSON "):])
    r["wrk_cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = sum(r[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    return r


def measure(servers, args, script):
    runs = []
    for rnd in range(args.rounds):
        for c in CONCURRENCY:
            for s in servers:
                wrk(s.url, c, args.warmup, script)
                load = os.getloadavg()[0]
                cpu0 = cpu_seconds(s.proc.pid)
                r = wrk(s.url, c, args.duration, script)
                r.update(server=s.name, concurrency=c, round=rnd, loadavg_1m=load,
                         server_cpu_s=cpu_seconds(s.proc.pid) - cpu0)
                runs.append(r)
                print(f"round {rnd} c={c:<3} {s.name:<28} {r['rps']:>9.0f} req/s  p50 {r['p50_us'] / 1e3:7.3f} ms"
                      f"  p99 {r['p99_us'] / 1e3:7.3f} ms  errors {r['errors']}  server cpu "
                      f"{r['server_cpu_s'] / args.duration:4.2f}  wrk cpu {r['wrk_cpu_s'] / args.duration:4.2f}"
                      f"  load {load:.1f}", flush=True)
    return runs


# ---------------------------------------------------------------------------- start-up, memory


def startup(sy, workdir, data_dir, repeats):
    """`switchyard serve` start to the first 200 of the predict route: restarts on a registry
    holding the deployed service, and first starts on an empty data dir (demo seeding)."""
    out = {"restart_ms": [], "fresh_demo_ms": []}
    for i in range(repeats):
        s = Server(f"startup-restart-{i}", [str(sy), "serve", "--bind", "127.0.0.1:{port}", "--data-dir",
                                            str(data_dir), "--no-demo"], workdir)
        t, _ = s.wait_answer(s.start())
        s.stop()
        out["restart_ms"].append(t * 1e3)
    for i in range(repeats):
        fresh = workdir / f"fresh-{i}"
        s = Server(f"startup-fresh-{i}", [str(sy), "serve", "--bind", "127.0.0.1:{port}", "--data-dir",
                                          str(fresh)], workdir)
        t, _ = s.wait_answer(s.start())
        s.stop()
        out["fresh_demo_ms"].append(t * 1e3)
    return out


def memory(sy, workdir):
    """VmRSS of a node serving iris_classifier, idle; then with 50 more versions (10 copies of
    each core fixture, distinct artifacts) deployed on 50 services, so all are loaded."""
    data_dir = workdir / "memory-node"
    s = Server("memory-node", [str(sy), "serve", "--bind", "127.0.0.1:{port}", "--data-dir", str(data_dir),
                               "--no-demo"], workdir)
    started = s.start()
    time.sleep(0.5)
    setup_single(sy, s.url, workdir)
    s.wait_answer(started)
    time.sleep(1.0)
    out = {"idle_one_version_kb": rss_kb(s.proc.pid)}
    t = time.perf_counter()
    n = 0
    for stem in CORE_FIXTURES:
        for path in onnx_copies(workdir, stem, 10, "memory"):
            name = f"bench_{n:02d}"
            cli(sy, s.url, "service", "create", name)
            cli(sy, s.url, "version", "add", name, str(path))
            cli(sy, s.url, "deploy", name, "v1")
            n += 1
    out["deploy_50_s"] = time.perf_counter() - t
    time.sleep(1.0)
    out["fifty_more_versions_kb"] = rss_kb(s.proc.pid)
    status, body = http("GET", s.url + "/admin/v1/services")
    out["services"] = len(json.loads(body)) if status == 200 else None
    s.stop()
    # after a restart the node activates every deployment itself
    s2 = Server("memory-node-restart", s.cmd, workdir)
    t2, _ = s2.wait_answer(s2.start())
    time.sleep(1.0)
    out["restart_51_deployments_first_prediction_ms"] = t2 * 1e3
    out["restart_51_deployments_kb"] = rss_kb(s2.proc.pid)
    s2.stop()
    return out


# ---------------------------------------------------------------------------- machine


def command_output(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def machine(peers=True):
    """The machine, toolchain and commit; with `peers`, the Python peers' versions too."""
    lscpu = command_output(["lscpu"])
    model = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name")), "")
    mem = next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
    out = {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "mem_gb": round(int(mem) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": command_output(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "rustc": command_output(["rustc", "--version"]),
        "wrk": command_output(["sh", "-c", "wrk -v 2>&1 | head -1"]),
        "python": platform.python_version(),
        "commit": command_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    if peers:
        import fastapi
        import onnxruntime
        import sklearn
        import uvicorn

        out.update(fastapi=fastapi.__version__, uvicorn=uvicorn.__version__, scikit_learn=sklearn.__version__,
                   onnxruntime=onnxruntime.__version__)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    ap.add_argument("--warmup", type=int, default=3, help="seconds of warm-up before each run")
    ap.add_argument("--rounds", type=int, default=2, help="sweeps over all servers and concurrencies")
    ap.add_argument("--only", default="", help="comma-separated server names (default: all)")
    ap.add_argument("--skip-extras", action="store_true", help="no start-up and memory measurements")
    ap.add_argument("--append", action="store_true",
                    help="keep the runs already in --out (as earlier sessions) and add this session's")
    ap.add_argument("--out", default=str(ROOT / "bench/results/http.json"))
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not on PATH (Debian: apt-get install wrk)")
    sy, floor = switchyard_binary(), floor_binary()
    workdir = Path(tempfile.mkdtemp(prefix="switchyard-http-bench-"))
    print(f"work dir {workdir}", flush=True)
    script = workdir / "predict.lua"
    script.write_text(WRK_SCRIPT)
    pkl = write_pickle(workdir)
    uvicorn = [sys.executable, "-m", "uvicorn", "peer_app:app", "--app-dir", str(ROOT / "bench"), "--host",
               "127.0.0.1", "--port", "{port}", "--no-access-log", "--log-level", "warning"]
    node = [str(sy), "serve", "--bind", "127.0.0.1:{port}", "--no-demo", "--data-dir"]
    servers = [
        Server("floor", [str(floor), "127.0.0.1:{port}"], workdir),
        Server("node_single", node + [str(workdir / "node-single")], workdir),
        Server("node_mapping", node + [str(workdir / "node-mapping")], workdir),
        Server("fastapi_sklearn", uvicorn, workdir, {"PEER_MODEL": "sklearn", "PEER_PICKLE": str(pkl)}),
        Server("fastapi_sklearn_per_request", uvicorn, workdir,
               {"PEER_MODEL": "sklearn_per_request", "PEER_PICKLE": str(pkl)}),
        Server("fastapi_onnxruntime", uvicorn, workdir, {"PEER_MODEL": "onnxruntime", "PEER_ONNX": str(MODEL)}),
    ]
    only = [n for n in args.only.split(",") if n]
    if only:
        servers = [s for s in servers if s.name in only]
    answers, idle_rss = {}, {}
    try:
        for s in servers:
            started = s.start()
            if s.name.startswith("node_"):
                while http("GET", s.url + "/v2/health/live")[0] != 200:
                    time.sleep(0.01)
                (setup_single if s.name == "node_single" else setup_mapping)(sy, s.url, workdir)
            _, answers[s.name] = s.wait_answer(started)
            time.sleep(0.5)
            idle_rss[s.name] = rss_kb(s.proc.pid)
            print(f"{s.name:<28} {s.url}  {json.dumps(answers[s.name])[:150]}", flush=True)
        runs = measure(servers, args, script)
        after_rss = {s.name: rss_kb(s.proc.pid) for s in servers}
        threads = {s.name: len(os.listdir(f"/proc/{s.proc.pid}/task")) for s in servers}
    finally:
        for s in servers:
            s.stop()
    result = {
        "machine": machine(),
        "settings": {"duration_s": args.duration, "warmup_s": args.warmup, "rounds": args.rounds,
                     "concurrency": list(CONCURRENCY), "wrk_threads": 1, "body": BODY, "path": PATH},
        "answers": answers,
        "rss_kb": {"idle": idle_rss, "after_load": after_rss},
        "threads": threads,
        "runs": runs,
    }
    if not args.skip_extras and (not only or "node_single" in only):
        result["startup"] = startup(sy, workdir, workdir / "node-single", 5)
        print("start-up:", json.dumps(result["startup"]), flush=True)
        result["memory"] = memory(sy, workdir)
        print("memory:", json.dumps(result["memory"]), flush=True)
    session = 0
    if args.append and Path(args.out).exists():
        earlier = json.loads(Path(args.out).read_text())
        session = 1 + max(r.get("session", 0) for r in earlier["runs"])
        result["runs"] = earlier["runs"] + result["runs"]
        result["sessions"] = earlier.get("sessions", [earlier["machine"]["date_utc"]])
    for r in result["runs"]:
        r.setdefault("session", session)
    result["sessions"] = result.get("sessions", []) + [result["machine"]["date_utc"]]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
