"""ECS of the AWS test double: clusters, task definitions, services and tasks. A task is a
real sample-app process on a free 127.0.0.1 port, registered in its service's target groups
once it listens; a service scheduler (one thread) starts and stops tasks toward each
service's desired count as ECS does, draining a task from its target groups for the
deregistration delay before stopping it. Images listed in the `cannot_pull` fault stop
their tasks with CannotPullContainerError, as ECS reports a failed pull.
"""

import copy
import datetime
import os
import shlex
import signal
import socket
import subprocess
import threading
import time
import uuid

from wire import ApiError

ACCOUNT = "123456789012"


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Task:
    def __init__(self, ecs, cluster, service, taskdef):
        self.id = uuid.uuid4().hex
        self.arn = "arn:aws:ecs:%s:%s:task/%s/%s" % (ecs.region, ACCOUNT, cluster, self.id)
        self.cluster, self.service, self.taskdef = cluster, service, taskdef
        self.last, self.desired = "PROVISIONING", "RUNNING"
        self.stopped_reason = None
        self.stop_code = None
        self.container_reason = None
        self.exit_code = None
        self.port = None
        self.proc = None
        self.created = _now()
        self.started = None
        self.stopping_at = None  # when draining ends
        self.stopped_at = None
        self.pull_fails_at = None

    def describe(self):
        td = self.taskdef
        c = td["containerDefinitions"][0]
        container = {"containerArn": self.arn.replace(":task/", ":container/") + "/" + c["name"],
                     "taskArn": self.arn, "name": c["name"], "image": c.get("image", ""),
                     "lastStatus": self.last}
        if self.exit_code is not None:
            container["exitCode"] = self.exit_code
        if self.container_reason:
            container["reason"] = self.container_reason
        if self.port:
            container["networkInterfaces"] = [{"privateIpv4Address": "127.0.0.1"}]
            container["networkBindings"] = [{"bindIP": "127.0.0.1", "containerPort": self.port,
                                             "hostPort": self.port, "protocol": "tcp"}]
        out = {"taskArn": self.arn,
               "clusterArn": "arn:aws:ecs:%s:%s:cluster/%s" % (td["_region"], ACCOUNT, self.cluster),
               "taskDefinitionArn": td["taskDefinitionArn"], "lastStatus": self.last,
               "desiredStatus": self.desired, "group": "service:" + self.service,
               "launchType": "FARGATE", "createdAt": self.created, "containers": [container],
               "cpu": td.get("cpu"), "memory": td.get("memory"),
               "startedBy": "ecs-svc/double"}
        if self.started:
            out["startedAt"] = self.started
        if self.stopped_reason:
            out["stoppedReason"] = self.stopped_reason
        if self.last == "STOPPED":
            out["stoppedAt"] = self.stopped_at or _now()
        if self.stop_code:
            out["stopCode"] = self.stop_code
        return {k: v for k, v in out.items() if v is not None}


class Ecs:
    def __init__(self, lock, config, region, elb, sample_app, log_dir):
        self.lock, self.config, self.region, self.elb = lock, config, region, elb
        self.sample_app, self.log_dir = sample_app, log_dir
        self.clusters = {}
        self.taskdefs = {}   # arn -> taskdef
        self.revisions = {}  # family -> last revision
        self.services = {}   # (cluster, name) -> service dict
        self.history = {}    # service arn -> [(t, snapshot)]
        self.tokens = {}     # clientToken -> (params, answer)
        self.tasks = {}      # arn -> Task
        self.pull_retry = {}
        self.stop = threading.Event()
        threading.Thread(target=self._scheduler, daemon=True).start()

    # ---- clusters and task definitions ---------------------------------------------------

    def CreateCluster(self, p):
        name = p.get("clusterName", "default")
        c = self.clusters.get(name)
        if c is None:
            c = {"clusterArn": "arn:aws:ecs:%s:%s:cluster/%s" % (self.region, ACCOUNT, name),
                 "clusterName": name, "status": "ACTIVE"}
            self.clusters[name] = c
        return {"cluster": self._cluster(name)}

    def ListClusters(self, p):
        return {"clusterArns": [c["clusterArn"] for c in self.clusters.values()]}

    def _cluster(self, name):
        c = dict(self.clusters[name])
        c["runningTasksCount"] = sum(1 for t in self.tasks.values()
                                     if t.cluster == name and t.last == "RUNNING")
        c["activeServicesCount"] = sum(1 for (cl, _), s in self.services.items()
                                       if cl == name and s["status"] == "ACTIVE")
        return c

    def _cluster_name(self, ref):
        name = (ref or "default").rsplit("/", 1)[-1]
        if name not in self.clusters:
            raise ApiError("ClusterNotFoundException", "Cluster not found.")
        return name

    def DescribeClusters(self, p):
        out, failures = [], []
        for ref in p.get("clusters", ["default"]):
            name = ref.rsplit("/", 1)[-1]
            if name in self.clusters:
                out.append(self._cluster(name))
            else:
                failures.append({"arn": ref, "reason": "MISSING"})
        return {"clusters": out, "failures": failures}

    def RegisterTaskDefinition(self, p):
        fam = p["family"]
        rev = self.revisions.get(fam, 0) + 1
        self.revisions[fam] = rev
        td = copy.deepcopy(p)
        td.update({"taskDefinitionArn": "arn:aws:ecs:%s:%s:task-definition/%s:%d" % (
            self.region, ACCOUNT, fam, rev), "revision": rev, "status": "ACTIVE",
            "registeredAt": _now(), "_region": self.region})
        td.pop("tags", None)
        self.taskdefs[td["taskDefinitionArn"]] = td
        return {"taskDefinition": self._public_td(td)}

    @staticmethod
    def _public_td(td):
        return {k: v for k, v in td.items() if not k.startswith("_")}

    def _taskdef(self, ref):
        if ref in self.taskdefs:
            return self.taskdefs[ref]
        name = ref.rsplit("/", 1)[-1]
        if ":" in name:
            fam, rev = name.split(":", 1)
        else:
            fam, rev = name, str(self.revisions.get(name, 0))
        arn = "arn:aws:ecs:%s:%s:task-definition/%s:%s" % (self.region, ACCOUNT, fam, rev)
        td = self.taskdefs.get(arn)
        if td is None:
            raise ApiError("ClientException", "Unable to describe task definition.")
        return td

    def DescribeTaskDefinition(self, p):
        return {"taskDefinition": self._public_td(self._taskdef(p["taskDefinition"]))}

    def DeregisterTaskDefinition(self, p):
        td = self._taskdef(p["taskDefinition"])
        td["status"] = "INACTIVE"
        return {"taskDefinition": self._public_td(td)}

    # ---- services ------------------------------------------------------------------------

    def _service(self, cluster, ref):
        s = self.services.get((cluster, ref.rsplit("/", 1)[-1]))
        if s is None or s["status"] == "INACTIVE":
            raise ApiError("ServiceNotFoundException", "Service not found.")
        return s

    def _record(self, s):
        self.history.setdefault(s["serviceArn"], []).append((time.monotonic(), copy.deepcopy(s)))

    def CreateService(self, p):
        cluster = self._cluster_name(p.get("cluster"))
        token = p.get("clientToken")
        if token and token in self.tokens:
            prev, answer = self.tokens[token]
            if prev != p:
                raise ApiError("InvalidParameterException",
                               "Creation of service was not idempotent.")
            return answer
        name = p["serviceName"]
        cur = self.services.get((cluster, name))
        if cur is not None and cur["status"] != "INACTIVE":
            raise ApiError("InvalidParameterException", "Creation of service was not idempotent.")
        td = self._taskdef(p["taskDefinition"])
        for lb in p.get("loadBalancers", []):
            self.elb.tg(lb["targetGroupArn"])
        s = {"serviceArn": "arn:aws:ecs:%s:%s:service/%s/%s" % (self.region, ACCOUNT, cluster, name),
             "serviceName": name, "clusterArn": self.clusters[cluster]["clusterArn"],
             "status": "ACTIVE", "desiredCount": p.get("desiredCount", 0),
             "taskDefinition": td["taskDefinitionArn"],
             "loadBalancers": p.get("loadBalancers", []),
             "launchType": p.get("launchType", "FARGATE"),
             "networkConfiguration": p.get("networkConfiguration"),
             "deploymentConfiguration": p.get("deploymentConfiguration",
                                              {"maximumPercent": 200,
                                               "minimumHealthyPercent": 100}),
             "createdAt": _now(), "events": [], "_deployment": uuid.uuid4().hex[:12]}
        self.services[(cluster, name)] = s
        self._record(s)
        answer = {"service": self._public_service(s)}
        if token:
            self.tokens[token] = (copy.deepcopy(p), answer)
        return answer

    def UpdateService(self, p):
        cluster = self._cluster_name(p.get("cluster"))
        s = self._service(cluster, p["service"])
        if "taskDefinition" in p:
            td = self._taskdef(p["taskDefinition"])
            if td["taskDefinitionArn"] != s["taskDefinition"]:
                s["taskDefinition"] = td["taskDefinitionArn"]
                s["_deployment"] = uuid.uuid4().hex[:12]
        if p.get("forceNewDeployment"):
            s["_deployment"] = uuid.uuid4().hex[:12]
        if "desiredCount" in p:
            s["desiredCount"] = p["desiredCount"]
        self._record(s)
        return {"service": self._public_service(s)}

    def DeleteService(self, p):
        cluster = self._cluster_name(p.get("cluster"))
        s = self._service(cluster, p["service"])
        if s["desiredCount"] > 0 and not p.get("force"):
            raise ApiError("InvalidParameterException",
                           "The service cannot be stopped while it is scaled above 0.")
        s["status"], s["desiredCount"] = "INACTIVE", 0
        self._record(s)
        return {"service": self._public_service(s)}

    def _public_service(self, s):
        live = [t for t in self.tasks.values()
                if t.service == s["serviceName"] and t.desired == "RUNNING"]
        running = sum(1 for t in live if t.last == "RUNNING")
        pending = len(live) - running
        primary = [t for t in live if t.taskdef["taskDefinitionArn"] == s["taskDefinition"]]
        out = {k: v for k, v in s.items() if not k.startswith("_") and v is not None}
        out["runningCount"], out["pendingCount"] = running, pending
        rollout = "COMPLETED" if sum(1 for t in primary if t.last == "RUNNING") >= s["desiredCount"] \
            else "IN_PROGRESS"
        out["deployments"] = [{
            "id": "ecs-svc/" + s["_deployment"], "status": "PRIMARY",
            "taskDefinition": s["taskDefinition"], "desiredCount": s["desiredCount"],
            "runningCount": sum(1 for t in primary if t.last == "RUNNING"),
            "pendingCount": sum(1 for t in primary if t.last != "RUNNING"),
            "rolloutState": rollout, "createdAt": s["createdAt"], "updatedAt": _now()}]
        out["events"] = s["events"][-20:]
        return out

    def _view(self, s):
        lag = self.config.get("consistency_lag_ms", 0) / 1000.0
        if lag <= 0:
            return s
        seen = None
        for t, snap in self.history.get(s["serviceArn"], []):
            if t <= time.monotonic() - lag:
                seen = snap
        return seen if seen is not None else self.history[s["serviceArn"]][0][1]

    def DescribeServices(self, p):
        cluster = self._cluster_name(p.get("cluster"))
        out, failures = [], []
        for ref in p["services"]:
            s = self.services.get((cluster, ref.rsplit("/", 1)[-1]))
            if s is None:
                failures.append({"arn": ref, "reason": "MISSING"})
                continue
            view = self._view(s)
            pub = self._public_service(s)
            pub.update({k: v for k, v in view.items()
                        if k in ("desiredCount", "taskDefinition", "status")})
            out.append(pub)
        return {"services": out, "failures": failures}

    def ListServices(self, p):
        cluster = self._cluster_name(p.get("cluster"))
        return {"serviceArns": [s["serviceArn"] for (c, _), s in self.services.items()
                                if c == cluster and s["status"] == "ACTIVE"]}

    # ---- tasks -----------------------------------------------------------------------------

    def ListTasks(self, p):
        cluster = self._cluster_name(p.get("cluster"))
        want = p.get("desiredStatus", "RUNNING")
        return {"taskArns": [t.arn for t in self.tasks.values()
                             if t.cluster == cluster and t.desired == want
                             and (not p.get("serviceName") or t.service == p["serviceName"])]}

    def DescribeTasks(self, p):
        cluster = self._cluster_name(p.get("cluster"))
        out, failures = [], []
        for ref in p["tasks"]:
            t = next((t for t in self.tasks.values()
                      if t.cluster == cluster and (t.arn == ref or t.id == ref)), None)
            if t is None:
                failures.append({"arn": ref, "reason": "MISSING"})
            else:
                out.append(t.describe())
        return {"tasks": out, "failures": failures}

    def StopTask(self, p):
        cluster = self._cluster_name(p.get("cluster"))
        t = next((t for t in self.tasks.values() if t.cluster == cluster
                  and (t.arn == p["task"] or t.id == p["task"])), None)
        if t is None:
            raise ApiError("InvalidParameterException", "The referenced task was not found.")
        self._begin_stop(t, p.get("reason", "Task stopped by user"))
        return {"task": t.describe()}

    # ---- the scheduler -----------------------------------------------------------------

    def _event(self, s, msg):
        s["events"].append({"id": uuid.uuid4().hex, "createdAt": _now(),
                            "message": "(service %s) %s" % (s["serviceName"], msg)})

    def _scheduler(self):
        while not self.stop.wait(0.05):
            with self.lock:
                for s in list(self.services.values()):
                    self._reconcile(s)
                for t in list(self.tasks.values()):
                    self._advance(t)

    def _reconcile(self, s):
        live = [t for t in self.tasks.values()
                if t.service == s["serviceName"] and t.desired == "RUNNING"]
        current = [t for t in live if t.taskdef["taskDefinitionArn"] == s["taskDefinition"]]
        old = [t for t in live if t not in current]
        want = s["desiredCount"] if s["status"] == "ACTIVE" else 0
        retry_at = self.pull_retry.get(s["serviceArn"], 0)
        if len(current) < want and time.monotonic() >= retry_at:
            for _ in range(want - len(current)):
                self._start(s)
        for t in current[want:]:
            self._begin_stop(t, "Scaling activity initiated by (deployment ecs-svc/%s)"
                             % s["_deployment"])
        if sum(1 for t in current if t.last == "RUNNING") >= want or want == 0:
            for t in old:
                self._begin_stop(t, "Scaling activity initiated by (deployment ecs-svc/%s)"
                                 % s["_deployment"])

    def _start(self, s):
        td = self.taskdefs[s["taskDefinition"]]
        cluster = s["clusterArn"].rsplit("/", 1)[-1]
        t = Task(self, cluster, s["serviceName"], td)
        self.tasks[t.arn] = t
        image = td["containerDefinitions"][0].get("image", "")
        if any(bad in image for bad in self.config.get("cannot_pull", [])):
            t.pull_fails_at = time.monotonic() + 0.3
            self.pull_retry[s["serviceArn"]] = time.monotonic() + 2.0
            return
        c = td["containerDefinitions"][0]
        env = {e["name"]: e["value"] for e in c.get("environment", [])}
        version = env.get("BLUEGREEN_VERSION") or (image.rsplit(":", 1)[1] if ":" in image else "0")
        t.port = _free_port()
        argv = [self.sample_app, "--service", env.get("BLUEGREEN_SERVICE", td["family"]),
                "--version", version, "--port", str(t.port)]
        argv += shlex.split(env.get("SAMPLE_APP_ARGS", ""))
        proc_env = dict(os.environ)
        proc_env.update(env)
        proc_env["PORT"] = str(t.port)
        log = open(os.path.join(self.log_dir, "task-%s.log" % t.id), "ab")
        t.proc = subprocess.Popen(argv, env=proc_env, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        log.close()
        t.last = "PENDING"
        self._event(self._svc_of(t), "has started 1 tasks: (task %s)." % t.id)

    def _svc_of(self, t):
        return self.services.get((t.cluster, t.service))

    def _targets(self, t):
        s = self._svc_of(t)
        return [lb["targetGroupArn"] for lb in (s["loadBalancers"] if s else [])]

    def _advance(self, t):
        now = time.monotonic()
        if t.pull_fails_at and t.last != "STOPPED" and now >= t.pull_fails_at:
            image = t.taskdef["containerDefinitions"][0].get("image", "")
            reason = ("CannotPullContainerError: pull image manifest has been retried 1 time(s): "
                      "failed to resolve ref %s: not found" % image)
            t.last, t.desired, t.stopped_at = "STOPPED", "STOPPED", _now()
            t.stop_code, t.stopped_reason, t.container_reason = "TaskFailedToStart", reason, reason
            return
        if t.proc is None or t.last == "STOPPED":
            return
        rc = t.proc.poll()
        if rc is not None:
            if t.last == "RUNNING" and t.desired == "RUNNING":
                for arn in self._targets(t):
                    self.elb.DeregisterTargets({"TargetGroupArn": arn,
                                                "Targets": [{"Id": "127.0.0.1", "Port": t.port}]})
            if t.desired == "RUNNING":
                t.stop_code = "EssentialContainerExited"
                t.stopped_reason = "Essential container in task exited"
            t.last, t.desired, t.exit_code = "STOPPED", "STOPPED", rc
            t.stopped_at = _now()
            return
        if t.last == "PENDING" and _listening(t.port):
            t.last, t.started = "RUNNING", _now()
            for arn in self._targets(t):
                self.elb.RegisterTargets({"TargetGroupArn": arn,
                                          "Targets": [{"Id": "127.0.0.1", "Port": t.port}]})
        if t.last == "DEACTIVATING" and now >= t.stopping_at:
            t.last = "STOPPING"
            t.proc.send_signal(signal.SIGTERM)

    def _begin_stop(self, t, reason):
        if t.desired == "STOPPED":
            return
        t.desired = "STOPPED"
        t.stop_code = t.stop_code or ("ServiceSchedulerInitiated" if "Scaling" in reason
                                      else "UserInitiated")
        t.stopped_reason = reason
        if t.proc is None:
            t.last, t.stopped_at = "STOPPED", _now()
            return
        delay = 0.0
        if t.last == "RUNNING":
            for arn in self._targets(t):
                tg = self.elb.tgs.get(arn)
                if tg:
                    delay = max(delay, tg.delay_s() * self.elb.scale())
                self.elb.DeregisterTargets({"TargetGroupArn": arn,
                                            "Targets": [{"Id": "127.0.0.1", "Port": t.port}]})
        t.last = "DEACTIVATING"
        t.stopping_at = time.monotonic() + delay

    def shutdown(self):
        self.stop.set()
        with self.lock:
            procs = [t.proc for t in self.tasks.values() if t.proc and t.proc.poll() is None]
        for p in procs:
            p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
