#!/usr/bin/python3
"""ctest e2e_ecs_rollback: rollbacks of `driver: ecs` deployments on the AWS test double:
automatic, of a revision answering 500s, judged from the CloudWatch figures; manual, back
to the old slot under load with 0 failed requests; a task that cannot pull its image ->
ROLLED_BACK with ECS's stopped reason in the reason and the evidence; a revision whose
Actuator body through the test listener says DOWN (db: DOWN) -> ROLLED_BACK before any
production traffic, the component named in the reason. Rejections 0.
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


class EcsRollback(EcsServiceCase):
    def test_rollback_on_500s_from_cloudwatch_figures(self):
        alb, d = self.boot("errs", "{canary: {percent: 50, wait: 90s}}",
                           "    rollback_on: {error_rate: 5%, min_requests: 10, window: 10s}\n")
        load = Load(alb.port)
        dep = self.deploy(d, "errs", "2.0.0", "--env", "SAMPLE_APP_ARGS=--error-rate 1")
        result = d.wait_result(dep)
        rec = d.deployment(dep)
        load.finish()
        self.assertEqual(result, "ROLLED_BACK", rec.get("reason"))
        self.assertIn("rollback_on: error rate", rec["reason"])
        self.assertEqual(alb.weights(), (100, 0))
        for _ in range(10):
            self.assertEqual(alb.version(), "1.0.0")
        wait_for(lambda: (alb.service("green") or {}).get("desiredCount") == 0, 120,
                 "the green service scaled to 0")
        print("rollback_on: %s" % rec["reason"])

    def test_manual_rollback_back_to_the_old_slot(self):
        alb, d = self.boot("manual")
        dep = self.deploy(d, "manual", "2.0.0")
        self.assertEqual(d.wait_result(dep), "SUCCEEDED", d.deployment(dep).get("reason"))
        self.assertEqual(alb.weights(), (0, 100))
        self.assertEqual(alb.version(), "2.0.0")
        load = Load(alb.port)
        time.sleep(1)
        r = d.cli("rollback", "manual")
        ok, failed = load.finish()
        self.assertEqual(alb.weights(), (100, 0), r.stdout)
        for _ in range(10):
            self.assertEqual(alb.version(), "1.0.0")
        self.assertEqual(failed, [], "failed requests through the rollback")
        self.assertEqual(d.deployment(dep)["result"], "ROLLED_BACK")
        wait_for(lambda: (alb.service("green") or {}).get("desiredCount") == 0, 120,
                 "the green service scaled to 0 after the rollback")
        print("manual rollback: %s" % r.stdout.strip().replace("\n", " | "))

    def test_actuator_down_through_the_test_listener_rolls_back(self):
        # The target groups check a liveness path ("/": 200) and pass; the Actuator body
        # read through the test listener (the test rule points at the preview) says
        # DOWN (db: DOWN): the slot is not healthy, and no production traffic reaches it.
        alb, d = self.boot("act", extra="    health: {format: actuator, interval: 500ms}\n",
                           hc_path="/", startup_timeout="15s")
        load = Load(alb.port)
        dep = self.deploy(d, "act", "2.0.0", "--env", "SAMPLE_APP_ARGS=--fail-health")
        result = d.wait_result(dep)
        rec = d.deployment(dep)
        ok, failed = load.finish()
        self.assertEqual(result, "ROLLED_BACK", rec.get("reason"))
        self.assertIn("startup timeout", rec["reason"])
        self.assertIn("actuator through the test listener: DOWN (db: DOWN)", rec["reason"])
        self.assertIn("db: DOWN", json.dumps(rec.get("evidence", rec)))
        self.assertEqual(failed, [])
        self.assertEqual(set(load.versions), {"1.0.0"}, "production traffic reached 2.0.0")
        self.assertEqual(alb.weights(), (100, 0))
        wait_for(lambda: (alb.service("green") or {}).get("desiredCount") == 0, 120,
                 "the green service scaled to 0")
        print("actuator DOWN: %s; %d requests, all 1.0.0" % (rec["reason"], ok))

    def test_task_that_cannot_pull_rolls_back_with_the_stopped_reason(self):
        alb, d = self.boot("pull")
        self.dbl.faults(cannot_pull=["nopull"])
        try:
            r = d.cli("deploy", "pull", "--version", "2.0.0", "--image", "repo/pull:nopull",
                      "--json")

            dep = json.loads(r.stdout)["id"]
            result = d.wait_result(dep)
        finally:
            self.dbl.faults(cannot_pull=[])
        rec = d.deployment(dep)
        self.assertEqual(result, "ROLLED_BACK", rec.get("reason"))
        self.assertIn("CannotPullContainerError", rec["reason"])

        self.assertIn("CannotPullContainerError", json.dumps(rec.get("evidence", rec)))
        self.assertEqual(alb.weights(), (100, 0))
        self.assertEqual(alb.version(), "1.0.0")
        wait_for(lambda: (alb.service("green") or {}).get("desiredCount") == 0, 120,
                 "the green service scaled to 0")
        print("cannot pull: %s" % rec["reason"])



if __name__ == "__main__":
    unittest.main(verbosity=2)
