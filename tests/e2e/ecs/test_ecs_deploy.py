#!/usr/bin/python3
"""ctest e2e_ecs_deploy: `driver: ecs` deployments against the AWS test double, through its
ALB listeners (tests/e2e/ecs/harness.py says how): v1 -> v2 under steady load with 0 failed
requests and every linear step visible in `aws elbv2 describe-rules`; check-config asking
AWS and naming what is missing; the compatibility gate, plan and release across a process
service and an ecs service in one config. Every test ends with the double's rejection
count at 0.
"""

import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ecs_service import EcsServiceCase, service_yaml  # noqa: E402
from harness import BUILD, Alb, Load, wait_for  # noqa: E402


class EcsDeploy(EcsServiceCase):
    def test_canary_under_load_zero_failures_weights_step_by_step(self):
        alb, d = self.boot("canary", "{linear: {percent: 40, every: 8s}}")
        self.assertEqual(alb.weights(), (100, 0))
        load = Load(alb.port)
        seen = [(100, 0)]
        stop = threading.Event()

        def watch_rules():
            while not stop.is_set():
                w = alb.weights()
                if not seen or seen[-1] != w:
                    seen.append(w)
                time.sleep(0.2)
        watcher = threading.Thread(target=watch_rules, daemon=True)
        watcher.start()
        dep = self.deploy(d, "canary", "2.0.0")
        result = d.wait_result(dep)
        stop.set()
        watcher.join(60)
        ok, failed = load.finish()
        rec = d.deployment(dep)
        self.assertEqual(result, "SUCCEEDED", rec.get("reason"))
        self.assertEqual(failed, [], "failed requests through the ALB listener")
        self.assertGreater(ok, 50)
        self.assertIn("2.0.0", load.versions)
        # every step seen in describe-rules, in order
        self.assertEqual(seen, [(100, 0), (60, 40), (20, 80), (0, 100)], seen)
        self.assertEqual(alb.version(), "2.0.0")
        # the artifact is pinned as the task definition, and the switch times recorded
        self.assertIn("task-definition/canary:", rec["artifact"].get("resolved", ""))
        # status shows each slot's targets as the target group describes them
        def green_targets():
            _, svc = d.api("GET", "/v1/services/canary")
            ts = svc["slots"]["green"]["targets"]
            return ts if len(ts) == 2 and all(t["healthy"] for t in ts) else None
        targets = wait_for(green_targets, 60, "2 healthy green targets in GET /v1/services")
        health = self.dbl.aws("elbv2", "describe-target-health", "--target-group-arn",
                              alb.tg["green"])["TargetHealthDescriptions"]
        want = sorted("%s:%d" % (h["Target"]["Id"], h["Target"]["Port"]) for h in health)
        self.assertEqual(sorted(t["address"] for t in targets), want)
        self.assertEqual({t["health"]["state"] for t in targets}, {"healthy"})
        r = d.cli("status", "canary")
        for addr in want:
            self.assertIn(addr, r.stdout)
        self.assertEqual(len([ln for ln in r.stdout.splitlines() if "health=healthy" in ln
                              and "slot=green" in ln and any(a in ln for a in want)]), 2,
                         r.stdout)
        print("canary: %d requests, 0 failed; steps %s; status:\n%s" % (ok, seen, r.stdout))

    def test_check_config_asks_aws_and_names_what_is_missing(self):
        alb = Alb(self.dbl, "check")
        d = self.daemon("check", self.config(service_yaml(alb)))
        r = d.cli("check-config", ok=None)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("aws check: identity: arn:aws:", r.stdout)
        self.assertIn("cluster prod", r.stdout)
        self.assertIn(alb.tg["green"], r.stdout)
        # a target group that does not exist: named, exit 1
        with open(d.cfg, encoding="utf-8") as f:
            text = f.read()
        bad = alb.tg["green"].rsplit("/", 1)[0] + "/0000000000000000"
        with open(d.cfg + ".bad", "w", encoding="utf-8") as f:
            f.write(text.replace(alb.tg["green"], bad))
        r = d.cli("-c", d.cfg + ".bad", "check-config", ok=None)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(bad, r.stdout)
        self.assertIn("missing", r.stdout + r.stderr)
        r = d.cli("-c", d.cfg + ".bad", "check-config", "--no-aws", ok=None)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


    def test_gate_plan_release_across_a_process_and_an_ecs_service(self):
        alb = Alb(self.dbl, "orders")
        app = os.path.join(BUILD, "sample-app")
        services = ("  payments:\n"
                    "    route: {path_prefix: /payments}\n"
                    "    version: 1.0.0\n"
                    "    run: {command: [\"%s\", \"--service\", \"payments\", \"--version\", \"1.0.0\"]}\n"
                    "    health: {path: /actuator/health, interval: 200ms}\n"
                    "    termination_wait: 1h\n"
                    "    api: {provides: {payments: 1.0.0}}\n" % app)
        services += service_yaml(alb, extra="    api: {provides: {orders: 1.0.0}, requires: {payments: \"^1.0\"}}\n")
        d = self.daemon("mixed", self.config(services))
        wait_for(lambda: self.version_or_none(alb) == "1.0.0", 120, "orders v1 on the ALB")
        # the gate: orders 2.0.0 needs payments ^2, live payments is 1.0.0
        r = d.cli("deploy", "orders", "--version", "2.0.0", "--image", "repo/orders:2.0.0",
                  "--requires", "payments=^2.0", "--wait", ok=None)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("payments", r.stdout + r.stderr)
        self.assertEqual(alb.weights(), (100, 0))
        release = os.path.join(d.dir, "release.yaml")
        with open(release, "w", encoding="utf-8") as f:
            f.write("services:\n"
                    "  orders:\n"
                    "    version: 2.0.0\n"
                    "    image: repo/orders:2.0.0\n"
                    "    api: {provides: {orders: 2.0.0}, requires: {payments: \"^2.0\"}}\n"
                    "  payments:\n"
                    "    version: 2.0.0\n"
                    "    run: {command: [\"%s\", \"--service\", \"payments\", \"--version\", \"2.0.0\"]}\n"
                    "    api: {provides: {payments: [1.9.0, 2.0.0]}}\n" % app)
        r = d.cli("plan", release)
        self.assertLess(r.stdout.index("payments"), r.stdout.index("orders"), r.stdout)
        r = d.cli("release", release, "--wait", timeout=900)
        self.assertEqual(alb.weights(), (0, 100), r.stdout)
        self.assertEqual(alb.version(), "2.0.0")
        print("release across process + ecs:\n" + r.stdout)




if __name__ == "__main__":
    unittest.main(verbosity=2)
