"""Starts `switchyard serve` (the binary cargo built) for the Python tests."""
import contextlib
import os
import pathlib
import socket
import subprocess
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
BINARY = TARGET / "debug" / "switchyard"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_node(*extra_args):
    """A node on a free loopback port with a fresh data directory (demo services seeded);
    yields its base URL once /v2/health/ready answers 200, and stops it afterwards."""
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        proc = subprocess.Popen(
            [str(BINARY), "serve", "--bind", f"127.0.0.1:{port}", "--data-dir", data, *extra_args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/v2/health/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(f"switchyard serve did not start: {proc.stderr.read().decode()}")
            time.sleep(0.1)
        try:
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=10)
