#!/usr/bin/env python3
"""Time from claim to the agent's first model request, per executor (scripts/bench).

For each executor (local, process, and docker when an engine answers) it starts
`harness serve` on a fresh database and git workspace, with a stand-in of the Messages
API that notes when the first request arrives (and answers 400, ending the attempt),
creates one task, and reports first_request - claimed (the claim's history time).
Runs each executor RUNS times (BENCH_EXECUTOR_RUNS, default 3) and prints the median.
Usage: bench-executors.py HARNESS_BIN [docker-image]
"""
import http.server, json, os, socket, statistics, subprocess, sys, tempfile, threading, time
import urllib.request
from datetime import datetime

BIN = sys.argv[1]
IMAGE = sys.argv[2] if len(sys.argv) > 2 else ""
RUNS = int(os.environ.get("BENCH_EXECUTOR_RUNS", "3"))
TOKEN = "bench-executors-token-0123456789"
first = {}


class Fake(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        first.setdefault("at", time.time())
        length = int(self.headers.get("content-length", "0"))
        self.rfile.read(length)
        body = b'{"type":"error","error":{"type":"invalid_request_error","message":"bench stand-in"}}'
        self.send_response(400)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def free_port(host):
    s = socket.socket(); s.bind((host, 0)); p = s.getsockname()[1]; s.close(); return p


def bridge_gateway():
    try:
        out = subprocess.run(["docker", "network", "inspect", "bridge", "--format",
                              "{{(index .IPAM.Config 0).Gateway}}"], capture_output=True, text=True, timeout=20)
        return out.stdout.strip() or None
    except Exception:
        return None


def call(url, method="GET", body=None):
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def git(repo, *args):
    subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
                        "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"})


def one(executor, host, fake_url):
    first.clear()
    with tempfile.TemporaryDirectory() as work:
        repo = os.path.join(work, "repo"); os.makedirs(repo)
        git(repo, "init", "-q", "-b", "main")
        open(os.path.join(repo, "README.md"), "w").write("bench\n")
        git(repo, "add", "-A"); git(repo, "commit", "-qm", "init")
        port = free_port(host)
        agent = "" if executor == "local" else f'executor = "{executor}"\n'
        if executor == "docker":
            agent += f'image = "{IMAGE}"\n'
        toml = f'''workspace = "{repo}"
[agents.build-1]
{agent}
[executors.process]
max_concurrent = 1
harness_binary = "{BIN}"
[executors.docker]
max_concurrent = 1
harness_binary = "{BIN}"
orchestrator_url = "http://{host}:{port}"
'''
        if executor != "docker":
            toml = toml[: toml.index("[executors.docker]")]
        cfg = os.path.join(work, "harness.toml"); open(cfg, "w").write(toml)
        env = {"PATH": os.environ["PATH"], "HOME": work, "HARNESS_LOG": "warn",
               "DATABASE_PATH": os.path.join(work, "data", "harness.db"), "HARNESS_CONFIG": cfg,
               "PORT": str(port), "HARNESS_BIND": host, "HARNESS_API_TOKEN": TOKEN,
               "HARNESS_DASHBOARD_DIR": os.path.join(work, "none"), "HARNESS_TICK_SECS": "0.1",
               "ANTHROPIC_API_KEY": "bench-key", "ANTHROPIC_BASE_URL": fake_url}
        if host != "127.0.0.1":
            env["HARNESS_ALLOWED_HOSTS"] = host
        log = open(os.path.join(work, "serve.log"), "w")
        server = subprocess.Popen([BIN, "serve"], env=env, stdout=log, stderr=log)
        try:
            base = f"http://{host}:{port}"
            for _ in range(600):
                try:
                    urllib.request.urlopen(base + "/health", timeout=1); break
                except Exception:
                    time.sleep(0.05)
            task = call(base + "/api/tasks", "POST", {"title": "bench"})
            deadline = time.time() + float(os.environ.get("BENCH_EXECUTOR_WAIT", "120"))
            while "at" not in first:
                if time.time() > deadline:
                    print(open(os.path.join(work, "serve.log")).read()[-2000:], file=sys.stderr)
                    for s in call(f"{base}/api/sessions?task_id={task['id']}")["items"]:
                        print(f"session {s['id']}: {s['status']} {s.get('exit_reason')}", file=sys.stderr)
                    raise SystemExit(f"bench-executors: {executor}: no model request in 120 s")
                time.sleep(0.005)
            hist = call(f"{base}/api/tasks/{task['id']}/history")["items"]
            claimed = next(h["at"] for h in hist if h["reason"] == "claimed")
            at = datetime.fromisoformat(claimed.replace("Z", "+00:00")).timestamp()
            return (first["at"] - at) * 1000.0
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill(); server.wait()


def main():
    gateway = bridge_gateway() if IMAGE else None
    fake_host = gateway or "127.0.0.1"
    fake_port = free_port(fake_host)
    httpd = http.server.ThreadingHTTPServer((fake_host, fake_port), Fake)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    fake_url = f"http://{fake_host}:{fake_port}"
    plan = [("local", "127.0.0.1"), ("process", "127.0.0.1")]
    if gateway:
        plan.append(("docker", gateway))
    for executor, host in plan:
        times = [one(executor, host, fake_url) for _ in range(RUNS)]
        print(f"claim to first model request, {executor}: median {statistics.median(times):.0f} ms "
              f"(runs: {', '.join(f'{t:.0f}' for t in times)})", flush=True)
    httpd.shutdown()


main()
