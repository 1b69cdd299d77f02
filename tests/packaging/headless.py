#!/usr/bin/env python3
"""The headless package, installed for real (run as root by scripts/package-test.sh).

Installs switchyard_<version>_amd64.deb with apt, checks what it put where (system user, data
dir, admin token, conffile, unit, man pages, completions, `--version`), then runs the installed
`switchyard serve` exactly as the systemd unit would (user, group, working directory, umask,
environment and command line parsed from the installed unit and its environment file, since
this machine may have no running systemd). Through that node it creates a service, adds a
version, deploys and predicts with the installed CLI and the package's admin token. Then it
upgrades to a rebuilt package of a higher version and checks that the registry, the operator's
edit of the environment file and the token survived and the node serves the same answer;
removes the package (data kept), and purges it (data gone).

    python3 tests/packaging/headless.py --deb dist/switchyard_0.1.0-1_amd64.deb \\
        --upgrade-deb /tmp/switchyard_0.1.0-2_amd64.deb --version 0.1.0 --commit 1a2b3c4d5e

Python standard library only. Leaves nothing installed, even when a check fails.
"""

import argparse
import grp
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "fixtures/models/iris_logreg.onnx"
PACKAGE = "switchyard"
ENV_FILE = Path("/etc/switchyard/switchyard.env")
TOKEN_FILE = Path("/etc/switchyard/admin-token")
DATA_DIR = Path("/var/lib/switchyard")
SERVICE = "pkgtest_iris"
ROW = {"features": {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}}
# What systemd puts in a service's environment before Environment= and EnvironmentFile=.
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
# Generous bounds (≥ 20× what these take here): start-up is well under a second.
START_TIMEOUT = 60
STOP_TIMEOUT = 60


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def sh(*argv, **kw):
    """Runs a command, fails with its output if it fails; returns stdout."""
    print("$ " + " ".join(shlex.quote(str(a)) for a in argv), flush=True)
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise Failure(f"{argv[0]} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r.stdout


def apt(*args):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return sh("apt-get", "-y", "-q", "-o", "Dpkg::Options::=--force-confold", *args, env=env)


def installed_version():
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status} ${Version}", PACKAGE], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    status, _, version = r.stdout.rpartition(" ")
    return version if status == "install ok installed" else None


def package_state():
    r = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", PACKAGE], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


# --- the unit, read the way systemd reads it ---------------------------------------------

def parse_unit(path):
    """The [Service] section: key -> list of values (in order; an empty value resets)."""
    section, out = None, {}
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section != "Service":
            continue
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if value == "":
            out[key] = []
        else:
            out.setdefault(key, []).append(value)
    return out


def parse_env_file(path):
    env = {}
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        check(sep == "=", f"{path}: not KEY=value: {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def service_exec(unit_path):
    """argv, env, cwd, user, group and umask of the service, as systemd would set them."""
    unit = parse_unit(unit_path)
    user = unit["User"][-1]
    group = unit.get("Group", [user])[-1]
    pw = pwd.getpwnam(user)
    env = {"PATH": SYSTEMD_PATH, "HOME": pw.pw_dir, "USER": user, "LOGNAME": user, "SHELL": pw.pw_shell}
    for line in unit.get("Environment", []):
        for assignment in shlex.split(line):
            key, _, value = assignment.partition("=")
            env[key] = value
    for spec in unit.get("EnvironmentFile", []):
        optional = spec.startswith("-")
        path = Path(spec.lstrip("-"))
        if path.exists():
            env.update(parse_env_file(path))
        else:
            check(optional, f"EnvironmentFile {path} is missing")
    exec_start = unit["ExecStart"][-1].lstrip("@-:+!")
    argv = shlex.split(exec_start)
    cwd = unit.get("WorkingDirectory", [pw.pw_dir])[-1].lstrip("-")
    umask = int(unit.get("UMask", ["0022"])[-1], 8)
    return argv, env, cwd, user, group, umask


class Node:
    """`switchyard serve` started as the unit starts it."""

    def __init__(self, unit_path, log_path):
        argv, env, cwd, user, group, umask = service_exec(unit_path)
        self.bind = env["SWITCHYARD_BIND"]
        self.url = f"http://{self.bind}"
        self.user = user
        print(f"starting as {user}:{group} in {cwd}: {' '.join(argv)}", flush=True)
        print("environment: " + " ".join(f"{k}={v}" for k, v in sorted(env.items())), flush=True)
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            argv, env=env, cwd=cwd, user=user, group=group, extra_groups=[], umask=umask,
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise Failure(f"the node exited {self.proc.returncode} at start:\n{Path(log_path).read_text()}")
            try:
                status, body = http("GET", f"{self.url}/v2/health/ready")
                if status == 200 and body.get("ready"):
                    break
            except OSError:
                pass
            check(time.monotonic() < deadline, f"the node was not ready within {START_TIMEOUT} s")
            time.sleep(0.1)

    def stop(self):
        """SIGTERM, as `systemctl stop` sends; the node must exit cleanly."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise Failure(f"the node did not stop within {STOP_TIMEOUT} s of SIGTERM")
        self.log.close()
        check(self.proc.returncode == 0, f"the node exited {self.proc.returncode} after SIGTERM")

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def http(method, url, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- checks --------------------------------------------------------------------------------

def unit_path():
    for line in sh("dpkg", "-L", PACKAGE).splitlines():
        if line.endswith("/systemd/system/switchyard.service"):
            return Path(line)
    raise Failure("the package has no systemd/system/switchyard.service")


def subcommands(path=()):
    """Every visible (sub)command of the installed CLI, from its own --help (not clap_mangen)."""
    out = sh("/usr/bin/switchyard", *path, "--help")
    found, in_commands = [], False
    for line in out.splitlines():
        if line.startswith("Commands:"):
            in_commands = True
            continue
        if in_commands:
            m = re.match(r"^  ([a-z][a-z0-9-]*)\b", line)
            if m:
                if m.group(1) != "help":
                    found.append(m.group(1))
            elif line and not line.startswith(" "):
                in_commands = False
    result = []
    for name in found:
        result.append(path + (name,))
        result.extend(subcommands(path + (name,)))
    return result


def check_install(version, commit):
    pw = pwd.getpwnam("switchyard")
    check(pw.pw_uid < 1000, f"switchyard is not a system user (uid {pw.pw_uid})")
    check(pw.pw_shell.endswith("nologin") or pw.pw_shell == "/bin/false", f"switchyard has a login shell: {pw.pw_shell}")
    st = DATA_DIR.stat()
    check(st.st_uid == pw.pw_uid and stat.S_IMODE(st.st_mode) == 0o750,
          f"{DATA_DIR}: owner {st.st_uid}, mode {oct(stat.S_IMODE(st.st_mode))}")
    st = TOKEN_FILE.stat()
    check(st.st_uid == 0 and st.st_gid == grp.getgrnam("switchyard").gr_gid and stat.S_IMODE(st.st_mode) == 0o640,
          f"{TOKEN_FILE}: owner {st.st_uid}:{st.st_gid}, mode {oct(stat.S_IMODE(st.st_mode))}")
    check(len(TOKEN_FILE.read_text().strip()) >= 16, "the admin token is shorter than 16 characters")
    conffiles = sh("dpkg-query", "-W", "-f=${Conffiles}", PACKAGE)
    check(str(ENV_FILE) in conffiles, f"{ENV_FILE} is not a conffile: {conffiles!r}")

    out = sh("/usr/bin/switchyard", "--version").strip()
    check(out == f"switchyard {version} (commit {commit})", f"--version says {out!r}")

    unit = unit_path()
    if shutil.which("systemd-analyze"):
        sh("systemd-analyze", "verify", unit)
    else:
        print("systemd-analyze is not installed: unit not verified", flush=True)
    postinst = Path("/var/lib/dpkg/info/switchyard.postinst").read_text()
    check(re.search(r"deb-systemd-invoke (try-)?restart .*switchyard\.service", postinst) or
          re.search(r"_dh_action=(try-)?restart", postinst),
          "postinst does not restart the service after an upgrade")

    commands = subcommands()
    check(len(commands) >= 20, f"only {len(commands)} subcommands found in --help")
    man_dir = Path("/usr/share/man/man1")
    missing = [c for c in [()] + commands if not (man_dir / ("-".join(("switchyard",) + c) + ".1.gz")).exists()]
    check(not missing, f"no man page for: {[' '.join(c) for c in missing]}")
    for c in [()] + commands:
        page = man_dir / ("-".join(("switchyard",) + c) + ".1.gz")
        r = subprocess.run(["man", "-l", "--warnings", str(page)], capture_output=True, text=True,
                           env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0"))
        check(r.returncode == 0 and r.stdout.strip() and not r.stderr.strip(),
              f"{page} does not render cleanly: {r.stderr}")
    print(f"man pages: {len(commands) + 1}, one per command", flush=True)

    bash = Path("/usr/share/bash-completion/completions/switchyard")
    sh("bash", "-n", bash)
    # The bash completion answers: the subcommands of `switchyard ` include serve.
    words = sh("bash", "-c", f"source {bash}; COMP_WORDS=(switchyard ''); COMP_CWORD=1; COMP_LINE='switchyard '; "
               "COMP_POINT=11; _switchyard switchyard '' switchyard; printf '%s\\n' \"${COMPREPLY[@]}\"").split()
    check("serve" in words and "deploy" in words, f"bash completion offers {words[:20]}")
    for path, shell in [(Path("/usr/share/zsh/vendor-completions/_switchyard"), "zsh"),
                        (Path("/usr/share/fish/vendor_completions.d/switchyard.fish"), "fish")]:
        check(path.exists(), f"{path} is missing")
        if shutil.which(shell):
            sh(shell, "-n", path)


def admin(node, *args):
    """The installed CLI against the node, with the package's admin token."""
    return sh("/usr/bin/switchyard", *args, "--node", node.url, "--token-file", TOKEN_FILE)


def registry_snapshot(node):
    services = json.loads(admin(node, "service", "list", "--json"))
    versions = json.loads(admin(node, "version", "list", SERVICE, "--json"))
    history = json.loads(admin(node, "history", SERVICE, "--json"))
    return {"services": services, "versions": versions, "history": history}


def predict(node):
    status, body = http("POST", f"{node.url}/v1/services/{SERVICE}/predict", ROW)
    check(status == 200, f"predict answered {status}: {body}")
    return {k: body[k] for k in ("generation", "prediction", "probabilities", "revision")}


def run(args, work):
    version, commit = args.version, args.commit
    before = installed_version()
    check(before is None, f"{PACKAGE} {before} is already installed: remove it first")

    apt("install", str(Path(args.deb).resolve()))
    first = installed_version()
    check(first is not None, "not installed")
    check_install(version, commit)

    # An operator's setting: another port (8080 may be taken here). Kept across the upgrade.
    port = free_port()
    text = ENV_FILE.read_text()
    check(re.search(r"^SWITCHYARD_BIND=", text, re.M), f"{ENV_FILE} has no SWITCHYARD_BIND line")
    ENV_FILE.write_text(re.sub(r"^SWITCHYARD_BIND=.*$", f"SWITCHYARD_BIND=127.0.0.1:{port}", text, flags=re.M))

    node = Node(unit_path(), work / "node.log")
    try:
        check(node.bind == f"127.0.0.1:{port}", f"the node binds {node.bind}")
        uid = int(re.search(r"^Uid:\s+(\d+)", Path(f"/proc/{node.proc.pid}/status").read_text(), re.M).group(1))
        check(uid == pwd.getpwnam("switchyard").pw_uid, f"the node runs as uid {uid}")
        status, _ = http("GET", f"{node.url}/admin/v1/services")
        check(status == 401, f"the admin API answered {status} without the token")
        admin(node, "service", "create", SERVICE, "--description", "package test")
        admin(node, "version", "add", SERVICE, MODEL, "--metric", "accuracy=0.95")
        admin(node, "deploy", SERVICE, "v1", "--reason", "package test")
        answer = predict(node)
        check(answer["generation"] == "v1" and answer["prediction"] == "setosa", f"prediction: {answer}")
        snapshot = registry_snapshot(node)
        check([s["name"] for s in snapshot["services"]] == [SERVICE], f"services: {snapshot['services']}")
        db = DATA_DIR / "registry.db"
        check(db.exists() and db.stat().st_uid == pwd.getpwnam("switchyard").pw_uid, f"{db} missing or not the user's")
    except BaseException:
        node.kill()
        raise
    node.stop()
    token = TOKEN_FILE.read_text()

    # Upgrade to the rebuilt package (systemd would restart the service; here it is stopped
    # and started again around the upgrade).
    apt("install", str(Path(args.upgrade_deb).resolve()))
    second = installed_version()
    check(second is not None and second != first, f"still {first} after the upgrade")
    check(subprocess.run(["dpkg", "--compare-versions", second, "gt", first]).returncode == 0, f"{second} ≤ {first}")
    check(f"SWITCHYARD_BIND=127.0.0.1:{port}" in ENV_FILE.read_text(), "the upgrade replaced the edited environment file")
    check(TOKEN_FILE.read_text() == token, "the upgrade changed the admin token")
    node = Node(unit_path(), work / "node.log")
    try:
        after = registry_snapshot(node)
        check(after == snapshot, f"the registry changed across the upgrade:\nbefore {snapshot}\nafter  {after}")
        check(predict(node) == answer, "the upgraded node answers differently")
    except BaseException:
        node.kill()
        raise
    node.stop()
    print(f"upgraded {first} -> {second}: registry, settings and token kept", flush=True)

    # Remove: the program goes, the data and settings stay.
    apt("remove", PACKAGE)
    check(not Path("/usr/bin/switchyard").exists(), "/usr/bin/switchyard is still there after remove")
    check((DATA_DIR / "registry.db").exists(), "remove deleted the registry")
    check(ENV_FILE.exists() and TOKEN_FILE.exists(), "remove deleted the settings")
    check(package_state() == "rc", f"after remove the package state is {package_state()!r}")
    # Purge: the data and settings go too.
    apt("purge", PACKAGE)
    for path in (DATA_DIR, ENV_FILE, TOKEN_FILE, ENV_FILE.parent):
        check(not path.exists(), f"{path} is still there after purge")
    check(package_state() == "", f"after purge the package state is {package_state()!r}")
    print("remove kept the registry; purge deleted it", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--deb", required=True)
    ap.add_argument("--upgrade-deb", required=True)
    ap.add_argument("--version", required=True, help="the version `switchyard --version` must name")
    ap.add_argument("--commit", required=True, help="the commit `switchyard --version` must name")
    ap.add_argument("--work", required=True, help="a scratch directory (logs)")
    args = ap.parse_args()
    check(os.geteuid() == 0, "run as root (it installs packages)")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    try:
        run(args, work)
    except Exception as e:
        log = work / "node.log"
        if log.exists():
            print("--- node log ---\n" + log.read_text()[-4000:], file=sys.stderr)
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        if package_state():
            subprocess.run(["apt-get", "-y", "-q", "purge", PACKAGE], env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    print("headless package: all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
