"""Helpers shared by the ecs e2e test files: a service of the ecs driver on its own ALB."""

import json

from harness import Alb, EcsTestCase, wait_for


def service_yaml(alb, strategy="all-at-once", extra="", startup_timeout="120s"):
    return ("  %s:\n"
            "    driver: ecs\n"
            "    route: {path_prefix: /%s}\n"
            "    image: repo/%s:1.0.0\n"
            "    version: 1.0.0\n"
            "    port: 8080\n"
            "    count: 2\n"
            "    strategy: %s\n"
            "    startup_timeout: %s\n"
            "    termination_wait: 1h\n"
            "%s%s" % (alb.name, alb.name, alb.name, strategy, startup_timeout, extra,
                      alb.ecs_yaml()))


class EcsServiceCase(EcsTestCase):

    def boot(self, name, strategy="all-at-once", extra="", hc_path="/actuator/health",
             startup_timeout="120s", env=None):
        alb = Alb(self.dbl, name, hc_path)
        d = self.daemon(name, self.config(service_yaml(alb, strategy, extra, startup_timeout)),
                        env)
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
        return json.loads(r.stdout)["id"]

