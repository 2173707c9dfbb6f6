#!/usr/bin/python3
"""ctest aws_double: the AWS test double driven by Debian's own AWS CLI (`aws
--endpoint-url ...`), so its answers are shown to parse in AWS's client, plus requests
that must be rejected (bad signature, unknown operation, missing or mistyped member,
unknown parameter) signed with botocore, and its faults (throttling, CannotPull,
eventual consistency, draining, a crashed task replaced).

Run from the repository root: /usr/bin/python3 tests/support/aws_double/test_double.py
(env BG_BUILD_DIR: the build directory holding sample-app; default build).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("BG_BUILD_DIR", "build")
KEY, SECRET = "AKIDDOUBLE", "S-AKIDDOUBLE"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(cond, timeout=20.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


class DoubleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="aws-double-")
        cfg = os.path.join(cls.dir, "config.json")
        with open(cfg, "w", encoding="utf-8") as f:
            json.dump({"time_scale": 0.05, "secrets": {KEY: SECRET}}, f)
        port_file = os.path.join(cls.dir, "port")
        cls.log = open(os.path.join(cls.dir, "double.log"), "wb")
        cls.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(HERE, "aws_double.py"), "--port-file", port_file,
             "--sample-app", os.path.join(BUILD, "sample-app"), "--state-dir",
             os.path.join(cls.dir, "state"), "--config", cfg],
            stdout=cls.log, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(port_file), 30, "the double's port file")
        with open(port_file, encoding="utf-8") as f:
            cls.port = int(f.read())
        cls.ep = "http://127.0.0.1:%d" % cls.port
        cls.env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET,
                       AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
                       AWS_PAGER="", AWS_MAX_ATTEMPTS="1", AWS_RETRY_MODE="standard",
                       AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
                       HOME=cls.dir)
        cls.env.pop("AWS_PROFILE", None)
        cls.setup_alb()

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        try:
            cls.proc.wait(15)
        except subprocess.TimeoutExpired:
            cls.proc.kill()
            cls.proc.wait()
        cls.log.close()

    # ---- helpers ---------------------------------------------------------------------

    @classmethod
    def aws(cls, *args, ok=True):
        r = subprocess.run(["/usr/bin/aws", "--endpoint-url", cls.ep, "--output", "json"]
                           + list(args), env=cls.env, capture_output=True, text=True, timeout=60)
        if ok and r.returncode != 0:
            raise AssertionError("aws %s failed: %s" % (" ".join(args), r.stderr))
        if not ok:
            return r
        return json.loads(r.stdout) if r.stdout.strip() else {}

    @classmethod
    def double(cls, path, body=None):
        req = urllib.request.Request(cls.ep + path, data=body)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def rejections(self):
        return self.double("/_double/rejections")["count"]

    def faults(self, **kw):
        self.double("/_double/faults", json.dumps(kw).encode())

    def signed(self, service, body, target=None, secret=SECRET, ctype=None):
        """Posts <body> signed with botocore; returns (status, text)."""
        headers = {"Content-Type": ctype or ("application/x-amz-json-1.1" if target else
                                             "application/x-www-form-urlencoded; charset=utf-8")}
        if target:
            headers["X-Amz-Target"] = target
        req = AWSRequest(method="POST", url=self.ep + "/", data=body.encode(), headers=headers)
        SigV4Auth(Credentials(KEY, secret), service, "us-east-1").add_auth(req)
        p = req.prepare()
        r = urllib.request.Request(p.url, data=p.body, headers=dict(p.headers), method="POST")
        try:
            with urllib.request.urlopen(r, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def get(self, port, path="/"):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
            return r.status, json.loads(r.read())

    @classmethod
    def taskdef(cls, version, image=None, extra_env=None):
        env = [{"name": "BLUEGREEN_VERSION", "value": version}] + (extra_env or [])
        c = [{"name": "app", "image": image or "repo/web:" + version, "essential": True,
              "portMappings": [{"containerPort": 8080}], "environment": env}]
        return cls.aws("ecs", "register-task-definition", "--family", "web", "--network-mode",
                       "awsvpc", "--requires-compatibilities", "FARGATE", "--cpu", "256",
                       "--memory", "512", "--container-definitions", json.dumps(c)
                       )["taskDefinition"]["taskDefinitionArn"]

    @classmethod
    def service(cls, name, td, count, tg):
        return cls.aws("ecs", "create-service", "--cluster", "prod", "--service-name", name,
                       "--task-definition", td, "--desired-count", str(count), "--launch-type",
                       "FARGATE", "--network-configuration",
                       "awsvpcConfiguration={subnets=[subnet-1],securityGroups=[sg-1],"
                       "assignPublicIp=DISABLED}", "--load-balancers",
                       "targetGroupArn=%s,containerName=app,containerPort=8080" % tg)["service"]

    @classmethod
    def setup_alb(cls):
        cls.aws("ecs", "create-cluster", "--cluster-name", "prod")
        lb = cls.aws("elbv2", "create-load-balancer", "--name", "web", "--subnets", "subnet-1",
                     "subnet-2")["LoadBalancers"][0]["LoadBalancerArn"]
        cls.tg = {}
        for slot in ("blue", "green"):
            cls.tg[slot] = cls.aws(
                "elbv2", "create-target-group", "--name", "web-" + slot, "--protocol", "HTTP",
                "--port", "8080", "--vpc-id", "vpc-1", "--target-type", "ip",
                "--health-check-path", "/actuator/health", "--health-check-interval-seconds", "5",
                "--healthy-threshold-count", "2")["TargetGroups"][0]["TargetGroupArn"]
        cls.listen_port = free_port()
        listener = cls.aws("elbv2", "create-listener", "--load-balancer-arn", lb, "--protocol",
                           "HTTP", "--port", str(cls.listen_port), "--default-actions",
                           "Type=forward,TargetGroupArn=" + cls.tg["blue"])
        cls.listener = listener["Listeners"][0]["ListenerArn"]
        cls.rule = cls.aws("elbv2", "create-rule", "--listener-arn", cls.listener, "--priority",
                           "10", "--conditions", "Field=path-pattern,Values=/*", "--actions",
                           cls.forward(100, 0))["Rules"][0]["RuleArn"]

    @classmethod
    def forward(cls, blue, green):
        return json.dumps([{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": cls.tg["blue"], "Weight": blue},
            {"TargetGroupArn": cls.tg["green"], "Weight": green}]}}])

    def weights(self):
        rule = self.aws("elbv2", "describe-rules", "--rule-arns", self.rule)["Rules"][0]
        return [t["Weight"] for t in rule["Actions"][0]["ForwardConfig"]["TargetGroups"]]

    def healthy(self, slot):
        d = self.aws("elbv2", "describe-target-health", "--target-group-arn", self.tg[slot])
        return [x for x in d["TargetHealthDescriptions"] if x["TargetHealth"]["State"] == "healthy"]

    # ---- tests -----------------------------------------------------------------------

    def test_1_blue_green_through_the_alb(self):
        before = self.rejections()
        td1 = self.taskdef("1.0.0")
        svc = self.service("web-blue", td1, 2, self.tg["blue"])
        self.assertEqual(svc["desiredCount"], 2)
        wait_for(lambda: len(self.healthy("blue")) == 2, 30, "2 healthy blue targets")
        d = self.aws("ecs", "describe-services", "--cluster", "prod", "--services", "web-blue")
        self.assertEqual(d["services"][0]["runningCount"], 2)
        self.assertEqual(d["services"][0]["deployments"][0]["rolloutState"], "COMPLETED")
        for _ in range(10):
            status, body = self.get(self.listen_port)
            self.assertEqual((status, body["version"]), (200, "1.0.0"))

        td2 = self.taskdef("2.0.0")
        self.service("web-green", td2, 1, self.tg["green"])
        wait_for(lambda: len(self.healthy("green")) == 1, 30, "a healthy green target")
        self.aws("elbv2", "modify-rule", "--rule-arn", self.rule, "--actions", self.forward(50, 50))
        self.assertEqual(self.weights(), [50, 50])
        seen = {self.get(self.listen_port)[1]["version"] for _ in range(60)}
        self.assertEqual(seen, {"1.0.0", "2.0.0"})
        self.aws("elbv2", "modify-rule", "--rule-arn", self.rule, "--actions", self.forward(0, 100))
        self.assertEqual(self.weights(), [0, 100])
        seen = {self.get(self.listen_port)[1]["version"] for _ in range(20)}
        self.assertEqual(seen, {"2.0.0"})

        now = int(time.time())
        q = [{"Id": "n", "MetricStat": {"Metric": {
            "Namespace": "AWS/ApplicationELB", "MetricName": "RequestCount",
            "Dimensions": [{"Name": "TargetGroup", "Value": self.tg["green"].split(":", 5)[5]}]},
            "Period": 60, "Stat": "Sum"}}]
        m = self.aws("cloudwatch", "get-metric-data", "--start-time", str(now - 300),
                     "--end-time", str(now + 60), "--metric-data-queries", json.dumps(q))
        total = sum(m["MetricDataResults"][0]["Values"])
        self.assertGreaterEqual(total, 20)
        self.assertEqual(self.aws("sts", "get-caller-identity")["Account"], "123456789012")
        self.assertEqual(self.rejections(), before, "awscli's requests all pass")

    def test_2_rejections_are_counted(self):
        before = self.rejections()
        st, text = self.signed("ecs", '{"cluster":"prod"}',
                               "AmazonEC2ContainerServiceV20141113.DescribeServices")
        self.assertEqual(st, 400)
        self.assertEqual(json.loads(text)["__type"], "InvalidParameterException")
        self.assertIn("services", json.loads(text)["message"])
        st, text = self.signed("ecs", '{"cluster":"prod","services":"web-blue"}',
                               "AmazonEC2ContainerServiceV20141113.DescribeServices")
        self.assertEqual((st, json.loads(text)["__type"]), (400, "InvalidParameterException"))
        st, text = self.signed("ecs", "{}", "AmazonEC2ContainerServiceV20141113.LaunchRocket")
        self.assertEqual((st, json.loads(text)["__type"]), (400, "UnknownOperationException"))
        st, text = self.signed("ecs", "{}", "AmazonEC2ContainerServiceV20141113.ListClusters",
                               secret="wrong")
        self.assertEqual(st, 403)
        self.assertIn("SignatureDoesNotMatch", text)
        st, text = self.signed(
            "elasticloadbalancing",
            "Action=ModifyRule&Version=2015-12-01&RuleArn=%s&Actions.member.1.Type=forward&"
            "Actions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn=%s&"
            "Actions.member.1.ForwardConfig.TargetGroups.member.1.Weight=heavy"
            % (self.rule, self.tg["blue"]))
        self.assertEqual(st, 400)
        self.assertIn("<Code>ValidationError</Code>", text)
        st, text = self.signed("elasticloadbalancing",
                               "Action=DescribeRules&Version=2015-12-01&Bogus=1")
        self.assertIn("<Code>ValidationError</Code>", text)
        st, text = self.signed("elasticloadbalancing", "Action=Teleport&Version=2015-12-01")
        self.assertIn("<Code>InvalidAction</Code>", text)
        self.assertEqual(self.rejections(), before + 7)
        # An error AWS gives for valid requests (unknown cluster) is not a rejection.
        r = self.aws("ecs", "describe-services", "--cluster", "nope", "--services", "x", ok=False)
        self.assertIn("ClusterNotFoundException", r.stderr)
        self.assertEqual(self.rejections(), before + 7)

    def test_3_throttling_fault(self):
        self.faults(throttle_share=1.0)
        try:
            r = self.aws("elbv2", "describe-rules", "--rule-arns", self.rule, ok=False)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("Throttling", r.stderr)
            r = self.aws("ecs", "list-clusters", ok=False)
            self.assertIn("ThrottlingException", r.stderr)
        finally:
            self.faults(throttle_share=0.0)
        self.aws("ecs", "list-clusters")

    def test_3b_server_error_and_latency_faults(self):
        self.faults(error_5xx_share=1.0)
        try:
            r = self.aws("ecs", "list-clusters", ok=False)
            self.assertIn("ServerException", r.stderr)
            r = self.aws("elbv2", "describe-rules", "--rule-arns", self.rule, ok=False)
            self.assertIn("ServiceUnavailable", r.stderr)
        finally:
            self.faults(error_5xx_share=0.0)
        self.faults(latency_ms=1500)
        try:
            start = time.monotonic()
            self.aws("sts", "get-caller-identity")
            self.assertGreaterEqual(time.monotonic() - start, 1.5)
        finally:
            self.faults(latency_ms=0)
        stats = self.double("/_double/stats")
        self.assertGreaterEqual(stats["injected"]["5xx"], 2)

    def test_4_cannot_pull(self):
        self.faults(cannot_pull=["missing-image"])
        td = self.taskdef("9.9.9", image="repo/missing-image:9.9.9")
        self.service("web-broken", td, 1, self.tg["green"])

        def stopped():
            arns = self.aws("ecs", "list-tasks", "--cluster", "prod", "--service-name",
                            "web-broken", "--desired-status", "STOPPED")["taskArns"]
            if not arns:
                return None
            return self.aws("ecs", "describe-tasks", "--cluster", "prod", "--tasks", arns[0])
        d = wait_for(stopped, 20, "a stopped task")
        task = d["tasks"][0]
        self.assertEqual(task["lastStatus"], "STOPPED")
        self.assertTrue(task["stoppedReason"].startswith("CannotPullContainerError"))
        self.assertEqual(task["stopCode"], "TaskFailedToStart")
        self.aws("ecs", "update-service", "--cluster", "prod", "--service", "web-broken",
                 "--desired-count", "0")

    def test_5_eventual_consistency(self):
        # awscli takes about a second per command on an idle machine and several on a busy
        # one: the lag must be well above that. Then a short lag: the write shows once it
        # is that old.
        self.faults(consistency_lag_ms=60000)
        try:
            before = self.weights()
            self.aws("elbv2", "modify-rule", "--rule-arn", self.rule, "--actions",
                     self.forward(30, 70))
            self.assertEqual(self.weights(), before, "describe lags behind the write")
            self.faults(consistency_lag_ms=1000)
            wait_for(lambda: self.weights() == [30, 70], 30, "the write to show")
        finally:
            self.faults(consistency_lag_ms=0)

    def test_6_draining_and_crash_replacement(self):
        self.aws("elbv2", "modify-target-group-attributes", "--target-group-arn",
                 self.tg["blue"], "--attributes", "Key=deregistration_delay.timeout_seconds,Value=1000")
        self.aws("ecs", "update-service", "--cluster", "prod", "--service", "web-blue",
                 "--desired-count", "1")

        def draining():
            d = self.aws("elbv2", "describe-target-health", "--target-group-arn", self.tg["blue"])
            return [x for x in d["TargetHealthDescriptions"]
                    if x["TargetHealth"]["State"] == "draining"]
        # 1000 s x 0.05 = 50 s of draining: long enough to be seen by an aws CLI call that
        # takes several seconds on a loaded machine.
        drained = wait_for(draining, 40, "a draining target")
        self.assertEqual(drained[0]["TargetHealth"]["Reason"], "Target.DeregistrationInProgress")
        wait_for(lambda: not draining(), 120, "the delay (1000 s x 0.05) to pass")
        # Kill the remaining task's process: ECS records the exit and starts a replacement.
        arns = self.aws("ecs", "list-tasks", "--cluster", "prod", "--service-name",
                        "web-blue")["taskArns"]
        self.assertEqual(len(arns), 1)
        task = self.aws("ecs", "describe-tasks", "--cluster", "prod", "--tasks", arns[0])["tasks"][0]
        port = task["containers"][0]["networkBindings"][0]["hostPort"]
        pid = self.get(port)[1]["pid"]
        os.kill(pid, signal.SIGKILL)

        def replaced():
            now = self.aws("ecs", "list-tasks", "--cluster", "prod", "--service-name",
                           "web-blue")["taskArns"]
            return now and now != arns and len(self.healthy("blue")) == 1
        wait_for(replaced, 20, "a replacement task")
        t = self.aws("ecs", "describe-tasks", "--cluster", "prod", "--tasks", arns[0])["tasks"][0]
        self.assertEqual(t["stoppedReason"], "Essential container in task exited")


if __name__ == "__main__":
    unittest.main(verbosity=2)
