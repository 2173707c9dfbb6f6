#!/usr/bin/python3
"""ctest e2e_ecs_faults: `driver: ecs` under faults on the AWS test double: 30% of all API
calls throttled -> the deployment still SUCCEEDS with 0 failed requests; kill -9 of
bluegreen in the middle of a traffic shift -> the restart reconciles from its store and
the ALB (the rule back to the old slot, the new service scaled to 0) with 0 failed requests,
and deploys again. Rejections 0.
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



if __name__ == "__main__":
    unittest.main(verbosity=2)
