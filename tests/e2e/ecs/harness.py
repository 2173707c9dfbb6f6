"""Shared fixture of the ecs e2e tests (tests/e2e/ecs/): the AWS test double
(tests/support/aws_double) started and stopped by PID, an ALB per test (target groups,
production and test listeners, weighted rules) made through Debian's `aws` CLI, and a real
`bluegreen serve` with `driver: ecs` pointed at the double.

Every test ends by asserting that the double rejected 0 requests (signature or model), so
the whole suite proves that every request bluegreen sent passed botocore's signer and AWS's
models. Waits are on conditions with generous deadlines (the machine is shared).
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.path.abspath(os.environ.get("BG_BUILD_DIR", os.path.join(ROOT, "build")))
BLUEGREEN = os.path.join(BUILD, "bluegreen")
KEY, SECRET = "AKIDECSE2E", "S-AKIDECSE2E"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(cond, timeout=60.0, what="condition", every=0.1):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(every)
    raise AssertionError("timed out after %.0fs waiting for %s (last: %r)" % (timeout, what, last))


class Double:
    """The AWS test double as a child process, stopped by its PID."""

    def __init__(self, workdir, faults=None):
        self.dir = workdir
        cfg = dict({"time_scale": 0.05, "secrets": {KEY: SECRET}}, **(faults or {}))
        cfg_path = os.path.join(workdir, "double.json")
        with open(cfg_path, "w", encoding="utf-8") as f:
            json.dump(cfg, f)
        port_file = os.path.join(workdir, "double.port")
        self.log = open(os.path.join(workdir, "double.log"), "wb")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(ROOT, "tests/support/aws_double/aws_double.py"),
             "--port-file", port_file, "--sample-app", os.path.join(BUILD, "sample-app"),
             "--state-dir", os.path.join(workdir, "double-state"), "--config", cfg_path],
            stdout=self.log, stderr=subprocess.STDOUT)
        def port_written():
            if not os.path.exists(port_file):
                return False
            with open(port_file, encoding="utf-8") as f:
                return f.read().strip()
        wait_for(port_written, 60, "the double's port file")
        with open(port_file, encoding="utf-8") as f:
            self.port = int(f.read())
        self.ep = "http://127.0.0.1:%d" % self.port
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET,
                        AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1",
                        AWS_EC2_METADATA_DISABLED="true", AWS_PAGER="",
                        AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
                        HOME=workdir)
        self.env.pop("AWS_PROFILE", None)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def aws(self, *args):
        """Debian's AWS CLI against the double; retries throttled calls (faults)."""
        r = None
        for attempt in range(20):
            try:
                r = subprocess.run(["/usr/bin/aws", "--endpoint-url", self.ep, "--output", "json"]
                                   + list(args), env=self.env, capture_output=True, text=True,
                                   timeout=120)
            except subprocess.TimeoutExpired:
                continue  # a loaded machine: tried again (a create that did happen then fails loudly)
            if r.returncode == 0:
                return json.loads(r.stdout) if r.stdout.strip() else {}
            if "Throttl" not in r.stderr and "ServiceUnavailable" not in r.stderr \
                    and "ServerException" not in r.stderr:
                break
            time.sleep(0.2)
        raise AssertionError("aws %s failed: %s" % (" ".join(args), r.stderr if r else "timeouts"))

    def get(self, path, body=None):
        req = urllib.request.Request(self.ep + path, data=body)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def rejections(self):
        return self.get("/_double/rejections")

    def faults(self, **kw):
        self.get("/_double/faults", json.dumps(kw).encode())


class Alb:
    """One service's AWS side: target groups, production and test listeners and rules."""

    def __init__(self, dbl, name, hc_path="/actuator/health"):
        self.dbl = dbl
        self.name = name
        dbl.aws("ecs", "create-cluster", "--cluster-name", "prod")
        self.lb = dbl.aws("elbv2", "create-load-balancer", "--name", name, "--subnets",
                          "subnet-1", "subnet-2")["LoadBalancers"][0]["LoadBalancerArn"]
        self.tg = {}
        for slot in ("blue", "green"):
            self.tg[slot] = dbl.aws(
                "elbv2", "create-target-group", "--name", "%s-%s" % (name, slot), "--protocol",
                "HTTP", "--port", "8080", "--vpc-id", "vpc-1", "--target-type", "ip",
                "--health-check-path", hc_path, "--health-check-interval-seconds", "5",
                "--healthy-threshold-count", "2")["TargetGroups"][0]["TargetGroupArn"]
            # 20 s x time_scale 0.05 = 1 s of draining
            dbl.aws("elbv2", "modify-target-group-attributes", "--target-group-arn",
                    self.tg[slot], "--attributes",
                    "Key=deregistration_delay.timeout_seconds,Value=20")
        self.port = free_port()
        self.test_port = free_port()
        lis = dbl.aws("elbv2", "create-listener", "--load-balancer-arn", self.lb, "--protocol",
                      "HTTP", "--port", str(self.port), "--default-actions",
                      "Type=forward,TargetGroupArn=" + self.tg["blue"])["Listeners"][0]["ListenerArn"]
        tlis = dbl.aws("elbv2", "create-listener", "--load-balancer-arn", self.lb, "--protocol",
                       "HTTP", "--port", str(self.test_port), "--default-actions",
                       "Type=forward,TargetGroupArn=" + self.tg["green"])["Listeners"][0]["ListenerArn"]
        self.rule = dbl.aws("elbv2", "create-rule", "--listener-arn", lis, "--priority", "10",
                            "--conditions", "Field=path-pattern,Values=/*", "--actions",
                            self.forward(100, 0))["Rules"][0]["RuleArn"]
        self.test_rule = dbl.aws("elbv2", "create-rule", "--listener-arn", tlis, "--priority",
                                 "10", "--conditions", "Field=path-pattern,Values=/*", "--actions",
                                 self.forward(0, 100))["Rules"][0]["RuleArn"]

    def forward(self, blue, green):
        return json.dumps([{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": self.tg["blue"], "Weight": blue},
            {"TargetGroupArn": self.tg["green"], "Weight": green}]}}])

    def weights(self, rule=None):
        """(blue, green) of the rule as `aws elbv2 describe-rules` shows it."""
        r = self.dbl.aws("elbv2", "describe-rules", "--rule-arns", rule or self.rule)["Rules"][0]
        tgs = {t["TargetGroupArn"]: t["Weight"] for t in r["Actions"][0]["ForwardConfig"]["TargetGroups"]}
        return (tgs.get(self.tg["blue"], 0), tgs.get(self.tg["green"], 0))

    def service(self, slot):
        d = self.dbl.aws("ecs", "describe-services", "--cluster", "prod", "--services",
                         "%s-%s" % (self.name, slot))
        return d["services"][0] if d.get("services") else None

    def version(self, port=None):
        with urllib.request.urlopen("http://127.0.0.1:%d/" % (port or self.port), timeout=10) as r:
            return json.loads(r.read())["version"]

    def ecs_yaml(self, probe=True):
        lines = ["    ecs:",
                 "      cluster: prod",
                 "      region: us-east-1",
                 "      endpoint_url: %s" % self.dbl.ep,
                 "      subnets: [subnet-1]",
                 "      security_groups: [sg-1]",
                 "      listener_rule_arn: %s" % self.rule,
                 "      test_listener_rule_arn: %s" % self.test_rule,
                 "      load_balancer_arn: %s" % self.lb,
                 "      target_groups: {blue: %s, green: %s}" % (self.tg["blue"], self.tg["green"]),
                 "      test_url: http://127.0.0.1:%d/" % self.test_port]
        if probe:
            lines.append("      probe_url: http://127.0.0.1:%d/" % self.port)
        return "\n".join(lines) + "\n"


class Load:
    """Steady load through the ALB's production listener: one new connection per request."""

    def __init__(self, port, threads=2):
        self.port = port
        self.stop_ev = threading.Event()
        self.ok = 0
        self.failed = []
        self.versions = {}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def run(self):
        while not self.stop_ev.is_set():
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                c.request("GET", "/")
                r = c.getresponse()
                body = r.read()
                c.close()
                with self.lock:
                    if r.status == 200:
                        self.ok += 1
                        v = json.loads(body).get("version")
                        self.versions[v] = self.versions.get(v, 0) + 1
                    else:
                        self.failed.append("HTTP %d" % r.status)
            except Exception as e:  # a failed request is what we count
                with self.lock:
                    self.failed.append(repr(e))
            time.sleep(0.02)

    def finish(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(60)
        return self.ok, self.failed


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=60)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(self.path)


class Daemon:
    """`bluegreen serve` on a config of its own."""

    def __init__(self, workdir, config_text, env):
        self.dir = workdir
        self.state = os.path.join(workdir, "state")
        os.makedirs(self.state, exist_ok=True)
        self.cfg = os.path.join(workdir, "bluegreen.yaml")
        with open(self.cfg, "w", encoding="utf-8") as f:
            f.write(config_text.replace("@STATE@", self.state))
        self.env = env
        self.proc = None
        self.start()

    def start(self):
        self.log = open(os.path.join(self.dir, "serve.log"), "ab")
        self.proc = subprocess.Popen([BLUEGREEN, "-c", self.cfg, "serve"], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)
        wait_for(lambda: self.proc.poll() is not None or self.cli("status", "--json", ok=None)
                 .returncode == 0, 120, "bluegreen serve to answer")
        if self.proc.poll() is not None:
            raise AssertionError("serve exited: " + self.serve_log())

    def serve_log(self):
        with open(os.path.join(self.dir, "serve.log"), encoding="utf-8", errors="replace") as f:
            return f.read()[-6000:]

    def cli(self, *args, ok=True, timeout=600):
        r = subprocess.run([BLUEGREEN, "-c", self.cfg] + list(args), env=self.env,
                           capture_output=True, text=True, timeout=timeout, cwd=self.dir)
        if ok is True and r.returncode != 0:
            raise AssertionError("bluegreen %s exited %d: %s%s\n--- serve log:\n%s" % (
                " ".join(args), r.returncode, r.stdout, r.stderr, self.serve_log()))
        return r

    def api(self, method, path, body=None):
        """The admin API over its unix socket: (status, JSON)."""
        c = UnixHTTPConnection(os.path.join(self.state, "bluegreen.sock"))
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, (json.loads(data) if data.strip() else None)

    def deployment(self, dep_id):
        status, d = self.api("GET", "/v1/deployments/%d" % int(dep_id))
        assert status == 200, (status, d)
        return d

    def wait_result(self, dep_id, timeout=300):
        return wait_for(lambda: self.deployment(dep_id).get("result") or None, timeout,
                        "deployment %s to end" % dep_id, every=0.25)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.log.close()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            # Every target stops with it (process-driver instances would outlive a SIGTERM).
            try:
                self.cli("shutdown", "--stop-targets", ok=None, timeout=180)
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()


class EcsTestCase(unittest.TestCase):
    """One double per test class; each test makes its own ALB and daemon."""

    faults = None

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="bg-ecs-e2e-")
        cls.dbl = Double(cls.workdir, cls.faults)

    @classmethod
    def tearDownClass(cls):
        cls.dbl.stop()

    def setUp(self):
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.stop()
        # The suite's promise: every request bluegreen (and the aws CLI) sent was valid.
        rej = self.dbl.rejections()
        self.assertEqual(rej["count"], 0, "the double rejected requests: %r" % rej.get("recent"))

    def daemon(self, name, text, env=None):
        d = Daemon(os.path.join(self.workdir, name), text, dict(self.dbl.env, **(env or {})))
        self.daemons.append(d)
        return d

    @staticmethod
    def config(services_yaml, state="@STATE@"):
        return ("listen: 127.0.0.1:0\n"
                "admin: unix:%s/bluegreen.sock\n"
                "state_dir: %s\n"
                "services:\n%s" % (state, state, services_yaml))
