#!/usr/bin/python3
"""ctest e2e_ecs_faults: `driver: ecs` under faults on the AWS test double: 30% of all API
calls throttled -> the deployment still SUCCEEDS with 0 failed requests; kill -9 of
bluegreen in the middle of a traffic shift -> the restart reconciles from its store and
the ALB (the rule back to the old slot, the new service scaled to 0) with 0 failed requests,
and deploys again; kill -9 right after the green service is created, before its rows are
committed, and the rule split 50/50 by hand meanwhile -> the restart writes the stored
100/0 back and its scan scales the orphan service to 0. Rejections 0.
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


class EcsFaults(EcsServiceCase):
    def test_throttled_30_percent_still_succeeds(self):
        alb, d = self.boot("throttle", "{canary: {percent: 30, wait: 3s}}")
        before = self.dbl.get("/_double/stats")
        self.dbl.faults(throttle_share=0.3)
        try:
            load = Load(alb.port)
            dep = self.deploy(d, "throttle", "2.0.0")
            result = d.wait_result(dep, 600)
            ok, failed = load.finish()
        finally:
            self.dbl.faults(throttle_share=0)
        after = self.dbl.get("/_double/stats")
        rec = d.deployment(dep)
        self.assertEqual(result, "SUCCEEDED", rec.get("reason"))
        self.assertEqual(failed, [])
        self.assertEqual(alb.weights(), (0, 100))
        throttled = after["injected"]["throttled"] - before["injected"]["throttled"]
        calls = sum(after["calls"].values()) - sum(before["calls"].values())
        # the fault was really there: about 30% of the calls meanwhile were refused
        self.assertGreater(throttled, 10)
        self.assertGreater(throttled, calls * 0.15)
        print("throttled: %d of %d calls throttled, SUCCEEDED, %d requests, 0 failed" % (
            throttled, calls, ok))

    def test_kill9_mid_shift_restart_reconciles(self):
        alb, d = self.boot("crash", "{canary: {percent: 30, wait: 10m}}")
        load = Load(alb.port)
        dep = self.deploy(d, "crash", "2.0.0")
        wait_for(lambda: alb.weights() == (70, 30), 180, "the 30% step in describe-rules")
        wait_for(lambda: d.deployment(dep)["phase"] == "PRODUCTION_TRAFFIC_SHIFT", 60,
                 "the shift phase")
        d.kill9()
        self.assertEqual(alb.weights(), (70, 30))  # the ALB keeps routing meanwhile
        d.start()
        result = d.wait_result(dep)
        rec = d.deployment(dep)
        self.assertEqual(result, "ROLLED_BACK", rec.get("reason"))
        self.assertIn("interrupted by a restart", rec["reason"])
        wait_for(lambda: alb.weights() == (100, 0), 120, "blue 100% again in describe-rules")
        wait_for(lambda: (alb.service("green") or {}).get("desiredCount") == 0, 120,
                 "the green service scaled to 0")
        time.sleep(1)
        ok, failed = load.finish()
        self.assertEqual(failed, [], "failed requests across kill -9 and the restart")
        self.assertEqual(alb.version(), "1.0.0")
        # a new deployment works after the restart
        dep2 = self.deploy(d, "crash", "3.0.0", "--strategy", "all-at-once")
        self.assertEqual(d.wait_result(dep2), "SUCCEEDED", d.deployment(dep2).get("reason"))
        self.assertEqual(alb.weights(), (0, 100))
        self.assertEqual(alb.version(), "3.0.0")
        print("kill -9: %s; %d requests, 0 failed" % (rec["reason"], ok))


    def test_kill9_after_the_green_service_is_created_reaps_it(self):
        # The daemon dies right after CreateService of the green slot (fault point
        # ecs.crash_after_apply, 2nd hit: the 1st is blue's at the first boot), before any
        # instance row of it is committed. The restart's scan describes both slot services
        # and the rules: green runs tasks no stored target claims -> scaled to 0; the rule is
        # written back to the stored 100/0.
        alb, d = self.boot("orphan", env={"BLUEGREEN_FAULTS": "ecs.crash_after_apply:2"})
        load = Load(alb.port)
        d.cli("deploy", "orphan", "--version", "2.0.0", "--image", "repo/orphan:2.0.0",
              "--json", ok=None)
        wait_for(lambda: d.proc.poll() is not None, 180, "the daemon to die at the fault point")
        d.log.close()
        green = alb.service("green")
        self.assertIsNotNone(green, "the green service was created before the crash")
        self.assertEqual(green["desiredCount"], 2)
        self.assertEqual(alb.weights(), (100, 0))
        # While bluegreen is down, someone splits the rule 50/50 onto the orphan's tasks
        # (once they are healthy): the restart must write the stored 100/0 back before it
        # scales the orphan down.
        def green_healthy():
            h = self.dbl.aws("elbv2", "describe-target-health", "--target-group-arn",
                             alb.tg["green"])["TargetHealthDescriptions"]
            return len([t for t in h if t["TargetHealth"]["State"] == "healthy"]) == 2
        wait_for(green_healthy, 120, "the orphan's 2 tasks healthy in the green target group")
        self.dbl.aws("elbv2", "modify-rule", "--rule-arn", alb.rule, "--actions",
                     alb.forward(50, 50))
        wait_for(lambda: load.versions.get("2.0.0", 0) > 0, 60, "2.0.0 answering at 50/50")
        d.env.pop("BLUEGREEN_FAULTS")
        d.start()
        wait_for(lambda: alb.weights() == (100, 0), 120, "the stored 100/0 written back")
        wait_for(lambda: (alb.service("green") or {}).get("desiredCount") == 0, 120,
                 "the orphan green service scaled to 0")
        self.assertEqual(alb.weights(), (100, 0))
        wait_for(lambda: (alb.service("green") or {}).get("runningCount") == 0, 120,
                 "the orphan's tasks stopped")
        time.sleep(1)
        ok, failed = load.finish()
        self.assertEqual(failed, [], "failed requests across kill -9 and the restart")
        for _ in range(10):
            self.assertEqual(alb.version(), "1.0.0")
        self.assertEqual(alb.service("blue")["desiredCount"], 2)
        log = d.serve_log()
        self.assertIn("no stored target claims it", log)
        self.assertIn("listener rule at boot differs from the stored split", log)
        self.assertIn("rule_blue=50 rule_green=50 blue=100 green=0", log)
        # the daemon works on: a new deployment succeeds
        dep2 = self.deploy(d, "orphan", "3.0.0")
        self.assertEqual(d.wait_result(dep2), "SUCCEEDED", d.deployment(dep2).get("reason"))
        self.assertEqual(alb.weights(), (0, 100))
        self.assertEqual(alb.version(), "3.0.0")
        print("orphan reaped: rule 50/50 -> 100/0, green scaled to 0; %d requests (%r), 0 failed"
              % (ok, load.versions))


if __name__ == "__main__":
    unittest.main(verbosity=2)
