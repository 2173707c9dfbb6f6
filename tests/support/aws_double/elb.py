"""ELBv2 and CloudWatch of the AWS test double: load balancers, target groups with real
HTTP health checks, listeners that are real forwarding proxies on 127.0.0.1 routing by the
rules' conditions and weights to healthy registered targets, draining per the target
group's deregistration delay, and per-target-group metrics (AWS/ApplicationELB) built from
the traffic the listeners forwarded, served by GetMetricData.
"""

import copy
import fnmatch
import http.client
import http.server
import random
import socketserver
import threading
import time
import uuid

from wire import ApiError

ACCOUNT = "123456789012"


def _id():
    return uuid.uuid4().hex[:16]


class Target:
    def __init__(self, ip, port):
        self.ip, self.port = ip, port
        self.state = "initial"
        self.reason = "Elb.RegistrationInProgress"
        self.description = "Target registration is in progress"
        self.ok_streak = 0
        self.bad_streak = 0
        self.drain_until = None

    def key(self):
        return (self.ip, self.port)


class TargetGroup:
    def __init__(self, region, p):
        self.name = p["Name"]
        self.arn = "arn:aws:elasticloadbalancing:%s:%s:targetgroup/%s/%s" % (
            region, ACCOUNT, self.name, _id())
        self.suffix = self.arn.split(":", 5)[5]
        self.p = {
            "TargetGroupName": self.name, "TargetGroupArn": self.arn,
            "Protocol": p.get("Protocol", "HTTP"), "Port": p.get("Port", 80),
            "VpcId": p.get("VpcId", "vpc-double"), "TargetType": p.get("TargetType", "ip"),
            "HealthCheckProtocol": p.get("HealthCheckProtocol", "HTTP"),
            "HealthCheckPort": p.get("HealthCheckPort", "traffic-port"),
            "HealthCheckEnabled": True,
            "HealthCheckPath": p.get("HealthCheckPath", "/"),
            "HealthCheckIntervalSeconds": p.get("HealthCheckIntervalSeconds", 30),
            "HealthCheckTimeoutSeconds": p.get("HealthCheckTimeoutSeconds", 5),
            "HealthyThresholdCount": p.get("HealthyThresholdCount", 5),
            "UnhealthyThresholdCount": p.get("UnhealthyThresholdCount", 2),
            "Matcher": p.get("Matcher", {"HttpCode": "200"}),
            "LoadBalancerArns": [],
        }
        self.attrs = {"deregistration_delay.timeout_seconds": "300",
                      "stickiness.enabled": "false", "slow_start.duration_seconds": "0"}
        self.targets = {}
        self.rr = 0

    def delay_s(self):
        return int(self.attrs["deregistration_delay.timeout_seconds"])


class Elb:
    """All ELBv2 state; guarded by the double's lock (self.lock)."""

    def __init__(self, lock, config, region):
        self.lock = lock
        self.config = config
        self.region = region
        self.lbs = {}
        self.tgs = {}
        self.listeners = {}
        self.rules = {}
        self.history = {}  # rule arn -> [(time, snapshot)] for eventual consistency
        self.metrics = []  # (time, tg arn, status, seconds)
        self.stop = threading.Event()
        threading.Thread(target=self._health_loop, daemon=True).start()

    # ---- helpers -------------------------------------------------------------------

    def scale(self):
        return float(self.config.get("time_scale", 1.0))

    def tg(self, arn):
        tg = self.tgs.get(arn)
        if tg is None:
            raise ApiError("TargetGroupNotFound", "One or more target groups not found")
        return tg

    def _check_actions(self, actions):
        for a in actions:
            if a.get("Type") != "forward":
                continue
            arns = [t["TargetGroupArn"] for t in a.get("ForwardConfig", {}).get("TargetGroups", [])]
            if a.get("TargetGroupArn"):
                arns.append(a["TargetGroupArn"])
            if not arns:
                raise ApiError("ValidationError", "A forward action needs a target group")
            for arn in arns:
                self.tg(arn)
            weights = [t.get("Weight", 1) for t in a.get("ForwardConfig", {}).get("TargetGroups", [])]
            if any(w < 0 or w > 999 for w in weights):
                raise ApiError("ValidationError", "Weight must be between 0 and 999")

    def _record(self, rule):
        self.history.setdefault(rule["RuleArn"], []).append((time.monotonic(), copy.deepcopy(rule)))

    def _view(self, rule):
        """The rule as a describe call sees it under the configured consistency lag."""
        lag = self.config.get("consistency_lag_ms", 0) / 1000.0
        if lag <= 0:
            return rule
        now = time.monotonic()
        seen = None
        for t, snap in self.history.get(rule["RuleArn"], []):
            if t <= now - lag:
                seen = snap
        return seen if seen is not None else self.history[rule["RuleArn"]][0][1]

    # ---- load balancers and target groups -----------------------------------------

    def CreateLoadBalancer(self, p):
        name = p["Name"]
        arn = "arn:aws:elasticloadbalancing:%s:%s:loadbalancer/app/%s/%s" % (
            self.region, ACCOUNT, name, _id())
        lb = {"LoadBalancerArn": arn, "LoadBalancerName": name, "DNSName": "127.0.0.1",
              "Scheme": p.get("Scheme", "internet-facing"), "Type": "application",
              "VpcId": "vpc-double", "State": {"Code": "active"},
              "IpAddressType": "ipv4", "SecurityGroups": p.get("SecurityGroups", [])}
        self.lbs[arn] = lb
        return {"LoadBalancers": [lb]}

    def DescribeLoadBalancers(self, p):
        arns = p.get("LoadBalancerArns")
        names = p.get("Names")
        out = [lb for lb in self.lbs.values()
               if (not arns or lb["LoadBalancerArn"] in arns)
               and (not names or lb["LoadBalancerName"] in names)]
        if (arns or names) and not out:
            raise ApiError("LoadBalancerNotFound", "One or more load balancers not found")
        return {"LoadBalancers": out}

    def CreateTargetGroup(self, p):
        for tg in self.tgs.values():
            if tg.name == p["Name"]:
                raise ApiError("DuplicateTargetGroupName",
                               "A target group with the same name '%s' exists" % p["Name"])
        tg = TargetGroup(self.region, p)
        self.tgs[tg.arn] = tg
        return {"TargetGroups": [tg.p]}

    def DescribeTargetGroups(self, p):
        arns, names = p.get("TargetGroupArns"), p.get("Names")
        out = [tg.p for tg in self.tgs.values()
               if (not arns or tg.arn in arns) and (not names or tg.name in names)
               and (not p.get("LoadBalancerArn")
                    or p["LoadBalancerArn"] in tg.p["LoadBalancerArns"])]
        if arns and len(out) < len(set(arns)):
            raise ApiError("TargetGroupNotFound", "One or more target groups not found")
        return {"TargetGroups": out}

    def ModifyTargetGroup(self, p):
        tg = self.tg(p["TargetGroupArn"])
        for k, v in p.items():
            if k != "TargetGroupArn":
                tg.p[k] = v
        return {"TargetGroups": [tg.p]}

    def DescribeTargetGroupAttributes(self, p):
        tg = self.tg(p["TargetGroupArn"])
        return {"Attributes": [{"Key": k, "Value": v} for k, v in tg.attrs.items()]}

    def ModifyTargetGroupAttributes(self, p):
        tg = self.tg(p["TargetGroupArn"])
        for a in p["Attributes"]:
            if a["Key"] not in tg.attrs:
                raise ApiError("ValidationError", "Unknown attribute key " + a["Key"])
            tg.attrs[a["Key"]] = a["Value"]
        return self.DescribeTargetGroupAttributes(p)

    def RegisterTargets(self, p):
        tg = self.tg(p["TargetGroupArn"])
        for t in p["Targets"]:
            port = t.get("Port", tg.p["Port"])
            cur = tg.targets.get((t["Id"], port))
            if cur is None or cur.state == "draining":
                tg.targets[(t["Id"], port)] = Target(t["Id"], port)
        return {}

    def DeregisterTargets(self, p):
        tg = self.tg(p["TargetGroupArn"])
        for t in p["Targets"]:
            port = t.get("Port", tg.p["Port"])
            cur = tg.targets.get((t["Id"], port))
            if cur is None or cur.state == "draining":
                continue
            cur.state, cur.reason = "draining", "Target.DeregistrationInProgress"
            cur.description = "Target deregistration is in progress"
            cur.drain_until = time.monotonic() + tg.delay_s() * self.scale()
        return {}

    def DescribeTargetHealth(self, p):
        tg = self.tg(p["TargetGroupArn"])
        want = {(t["Id"], t.get("Port", tg.p["Port"])) for t in p.get("Targets", [])}
        out = []
        for t in tg.targets.values():
            if want and t.key() not in want:
                continue
            h = {"State": t.state}
            if t.state != "healthy":
                h["Reason"], h["Description"] = t.reason, t.description
            out.append({"Target": {"Id": t.ip, "Port": t.port},
                        "HealthCheckPort": str(t.port), "TargetHealth": h})
        for key in want - {t.key() for t in tg.targets.values()}:
            out.append({"Target": {"Id": key[0], "Port": key[1]},
                        "TargetHealth": {"State": "unused", "Reason": "Target.NotRegistered",
                                         "Description": "Target is not registered to the target group"}})
        return {"TargetHealthDescriptions": out}

    # ---- listeners and rules --------------------------------------------------------

    def CreateListener(self, p):
        lb = self.lbs.get(p["LoadBalancerArn"])
        if lb is None:
            raise ApiError("LoadBalancerNotFound", "One or more load balancers not found")
        self._check_actions(p["DefaultActions"])
        port = p.get("Port", 80)
        arn = "arn:aws:elasticloadbalancing:%s:%s:listener/app/%s/%s/%s" % (
            self.region, ACCOUNT, lb["LoadBalancerName"], lb["LoadBalancerArn"].rsplit("/", 1)[1],
            _id())
        try:
            server = _ListenerServer(("127.0.0.1", port), self, arn)
        except OSError as e:
            raise ApiError("DuplicateListener", "cannot listen on port %d: %s" % (port, e))
        listener = {"ListenerArn": arn, "LoadBalancerArn": lb["LoadBalancerArn"],
                    "Port": server.server_address[1], "Protocol": p.get("Protocol", "HTTP"),
                    "DefaultActions": p["DefaultActions"]}
        self.listeners[arn] = {"p": listener, "server": server}
        for a in p["DefaultActions"]:
            self._attach(a, lb["LoadBalancerArn"])
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return {"Listeners": [listener]}

    def _attach(self, action, lb_arn):
        arns = [t["TargetGroupArn"] for t in action.get("ForwardConfig", {}).get("TargetGroups", [])]
        if action.get("TargetGroupArn"):
            arns.append(action["TargetGroupArn"])
        for arn in arns:
            lbs = self.tgs[arn].p["LoadBalancerArns"]
            if lb_arn not in lbs:
                lbs.append(lb_arn)

    def DescribeListeners(self, p):
        arns = p.get("ListenerArns")
        out = [l["p"] for l in self.listeners.values()
               if (not arns or l["p"]["ListenerArn"] in arns)
               and (not p.get("LoadBalancerArn") or l["p"]["LoadBalancerArn"] == p["LoadBalancerArn"])]
        if arns and len(out) < len(set(arns)):
            raise ApiError("ListenerNotFound", "One or more listeners not found")
        return {"Listeners": out}

    def ModifyListener(self, p):
        l = self.listeners.get(p["ListenerArn"])
        if l is None:
            raise ApiError("ListenerNotFound", "One or more listeners not found")
        if "DefaultActions" in p:
            self._check_actions(p["DefaultActions"])
            l["p"]["DefaultActions"] = p["DefaultActions"]
            for a in p["DefaultActions"]:
                self._attach(a, l["p"]["LoadBalancerArn"])
        return {"Listeners": [l["p"]]}

    def CreateRule(self, p):
        l = self.listeners.get(p["ListenerArn"])
        if l is None:
            raise ApiError("ListenerNotFound", "One or more listeners not found")
        for r in self.rules.values():
            if r["ListenerArn"] == p["ListenerArn"] and r["Priority"] == str(p["Priority"]):
                raise ApiError("PriorityInUse", "Priority '%d' is currently in use" % p["Priority"])
        self._check_actions(p["Actions"])
        arn = l["p"]["ListenerArn"].replace(":listener/", ":listener-rule/") + "/" + _id()
        rule = {"RuleArn": arn, "Priority": str(p["Priority"]), "Conditions": p["Conditions"],
                "Actions": p["Actions"], "IsDefault": False, "ListenerArn": p["ListenerArn"]}
        self.rules[arn] = rule
        for a in p["Actions"]:
            self._attach(a, l["p"]["LoadBalancerArn"])
        self._record(rule)
        return {"Rules": [self._public(rule)]}

    @staticmethod
    def _public(rule):
        return {k: v for k, v in rule.items() if k != "ListenerArn"}

    def DescribeRules(self, p):
        if p.get("RuleArns"):
            out = []
            for arn in p["RuleArns"]:
                if arn not in self.rules:
                    raise ApiError("RuleNotFound", "One or more rules not found")
                out.append(self._public(self._view(self.rules[arn])))
            return {"Rules": out}
        if p.get("ListenerArn") not in self.listeners:
            raise ApiError("ListenerNotFound", "One or more listeners not found")
        out = [self._public(self._view(r)) for r in self.rules.values()
               if r["ListenerArn"] == p["ListenerArn"]]
        l = self.listeners[p["ListenerArn"]]["p"]
        out.append({"RuleArn": l["ListenerArn"].replace(":listener/", ":listener-rule/") + "/default",
                    "Priority": "default", "Conditions": [], "Actions": l["DefaultActions"],
                    "IsDefault": True})
        return {"Rules": out}

    def ModifyRule(self, p):
        rule = self.rules.get(p["RuleArn"])
        if rule is None:
            raise ApiError("RuleNotFound", "One or more rules not found")
        if "Actions" in p:
            self._check_actions(p["Actions"])
            rule["Actions"] = p["Actions"]
            lb = self.listeners[rule["ListenerArn"]]["p"]["LoadBalancerArn"]
            for a in p["Actions"]:
                self._attach(a, lb)
        if "Conditions" in p:
            rule["Conditions"] = p["Conditions"]
        self._record(rule)
        return {"Rules": [self._public(rule)]}

    # ---- data plane ---------------------------------------------------------------

    def route(self, listener_arn, method, path, headers):
        """-> (target group, target) or (None, status) under the lock."""
        with self.lock:
            l = self.listeners.get(listener_arn)
            if l is None:
                return None, 503
            rules = sorted((r for r in self.rules.values() if r["ListenerArn"] == listener_arn),
                           key=lambda r: int(r["Priority"]))
            actions = l["p"]["DefaultActions"]
            for r in rules:
                if all(_matches(c, path, headers) for c in r["Conditions"]):
                    actions = r["Actions"]
                    break
            fwd = next((a for a in actions if a.get("Type") == "forward"), None)
            if fwd is None:
                return None, 503
            if fwd.get("ForwardConfig"):
                choices = [(t["TargetGroupArn"], t.get("Weight", 1))
                           for t in fwd["ForwardConfig"]["TargetGroups"]]
            else:
                choices = [(fwd["TargetGroupArn"], 1)]
            total = sum(w for _, w in choices)
            if total <= 0:
                return None, 503
            pick = random.uniform(0, total)
            for arn, w in choices:
                if w <= 0:
                    continue
                pick -= w
                if pick <= 0:
                    break
            tg = self.tgs[arn]
            live = [t for t in tg.targets.values() if t.state == "healthy"]
            if not live:
                # ALB fails open: with no healthy target it routes to all of them.
                live = [t for t in tg.targets.values() if t.state in ("unhealthy", "initial")]
            if not live:
                return tg, 503
            tg.rr += 1
            return tg, live[tg.rr % len(live)]

    def record(self, tg, status, seconds):
        with self.lock:
            self.metrics.append((time.time(), tg.arn if tg else None, status, seconds))
            if len(self.metrics) > 500000:
                del self.metrics[:100000]

    # ---- health checks --------------------------------------------------------------

    def _health_loop(self):
        last = {}
        while not self.stop.wait(0.05):
            now = time.monotonic()
            with self.lock:
                work = []
                for tg in self.tgs.values():
                    for t in list(tg.targets.values()):
                        if t.state == "draining":
                            if now >= t.drain_until:
                                del tg.targets[t.key()]
                            continue
                        interval = max(0.1, tg.p["HealthCheckIntervalSeconds"] * self.scale())
                        k = (tg.arn, t.key())
                        if now - last.get(k, 0) >= interval:
                            last[k] = now
                            work.append((tg, t, tg.p["HealthCheckPath"],
                                         tg.p["Matcher"].get("HttpCode", "200"),
                                         tg.p["HealthCheckTimeoutSeconds"]))
            for tg, t, path, codes, timeout in work:
                ok, why = _probe(t, path, codes, min(timeout, 2))
                with self.lock:
                    _judge(tg, t, ok, why)


def _probe(t, path, codes, timeout):
    try:
        c = http.client.HTTPConnection(t.ip, t.port, timeout=timeout)
        c.request("GET", path, headers={"User-Agent": "ELB-HealthChecker/2.0"})
        r = c.getresponse()
        r.read()
        c.close()
        ok = _code_ok(r.status, codes)
        return ok, None if ok else ("Target.ResponseCodeMismatch",
                                    "Health checks failed with these codes: [%d]" % r.status)
    except OSError:
        return False, ("Target.FailedHealthChecks", "Health checks failed")


def _code_ok(status, codes):
    for part in str(codes).split(","):
        if "-" in part:
            lo, hi = part.split("-")
            if int(lo) <= status <= int(hi):
                return True
        elif part.strip() and int(part) == status:
            return True
    return False


def _judge(tg, t, ok, why):
    if tg.targets.get(t.key()) is not t or t.state == "draining":
        return
    if ok:
        t.ok_streak, t.bad_streak = t.ok_streak + 1, 0
        if t.ok_streak >= tg.p["HealthyThresholdCount"]:
            t.state, t.reason, t.description = "healthy", None, None
    else:
        t.bad_streak, t.ok_streak = t.bad_streak + 1, 0
        if t.state == "healthy" and t.bad_streak >= tg.p["UnhealthyThresholdCount"]:
            t.state, (t.reason, t.description) = "unhealthy", why
        elif t.state == "initial" and t.bad_streak >= tg.p["UnhealthyThresholdCount"]:
            t.state, (t.reason, t.description) = "unhealthy", why
        elif t.state == "unhealthy":
            t.reason, t.description = why


def _matches(cond, path, headers):
    field = cond.get("Field")
    if field == "path-pattern":
        values = cond.get("PathPatternConfig", {}).get("Values") or cond.get("Values", [])
        return any(fnmatch.fnmatchcase(path.split("?")[0], v) for v in values)
    if field == "host-header":
        values = cond.get("HostHeaderConfig", {}).get("Values") or cond.get("Values", [])
        host = headers.get("Host", "").split(":")[0].lower()
        return any(fnmatch.fnmatchcase(host, v.lower()) for v in values)
    if field == "http-header":
        cfg = cond.get("HttpHeaderConfig", {})
        v = headers.get(cfg.get("HttpHeaderName", ""))
        return v is not None and any(fnmatch.fnmatchcase(v, x) for x in cfg.get("Values", []))
    return False


class _ListenerServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, elb, arn):
        self.elb, self.arn = elb, arn
        super().__init__(addr, _Forward)


HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
       "upgrade", "content-length"}


class _Forward(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _any(self):
        elb = self.server.elb
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        start = time.monotonic()
        tg, target = elb.route(self.server.arn, self.command, self.path, self.headers)
        if not isinstance(target, Target):
            self._reply(target, b"no target\n")
            elb.record(tg, -target, 0)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        headers["X-Forwarded-For"] = self.client_address[0]
        try:
            c = http.client.HTTPConnection(target.ip, target.port, timeout=30)
            c.request(self.command, self.path, body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
            c.close()
        except OSError:
            elb.record(tg, -502, time.monotonic() - start)
            self._reply(502, b"bad gateway\n")
            return
        elb.record(tg, r.status, time.monotonic() - start)
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _any


# ---- CloudWatch -------------------------------------------------------------------------

def get_metric_data(elb, p):
    start = p["StartTime"].timestamp()
    end = p["EndTime"].timestamp()
    results = []
    with elb.lock:
        events = list(elb.metrics)
        by_suffix = {tg.suffix: tg.arn for tg in elb.tgs.values()}
    for q in p["MetricDataQueries"]:
        ms = q.get("MetricStat")
        if ms is None:
            raise ApiError("InvalidParameterValue", "only MetricStat queries are supported")
        m = ms["Metric"]
        dims = {d["Name"]: d["Value"] for d in m.get("Dimensions", [])}
        tg_arn = by_suffix.get(dims.get("TargetGroup"))
        period = ms["Period"]
        name, stat = m.get("MetricName"), ms["Stat"]
        buckets = {}
        if m.get("Namespace") == "AWS/ApplicationELB" and tg_arn:
            for t, arn, status, secs in events:
                if arn != tg_arn or not (start <= t < end):
                    continue
                v = _value(name, status, secs)
                if v is None:
                    continue
                b = start + int((t - start) // period) * period
                buckets.setdefault(b, []).append(v)
        stamps = sorted(buckets, reverse=p.get("ScanBy", "TimestampDescending") != "TimestampAscending")
        results.append({"Id": q["Id"], "Label": q.get("Label", name),
                        "Timestamps": [elb_ts(b) for b in stamps],
                        "Values": [_stat(stat, buckets[b]) for b in stamps],
                        "StatusCode": "Complete"})
    return {"MetricDataResults": results, "Messages": []}


def elb_ts(t):
    import datetime
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc)


def _value(name, status, secs):
    if name == "RequestCount":
        return 1.0 if status > 0 else None
    if name == "HTTPCode_Target_5XX_Count":
        return 1.0 if 500 <= status < 600 else None if status > 0 else None
    if name == "HTTPCode_Target_2XX_Count":
        return 1.0 if 200 <= status < 300 else None
    if name == "HTTPCode_Target_4XX_Count":
        return 1.0 if 400 <= status < 500 else None
    if name == "HTTPCode_ELB_5XX_Count":
        return 1.0 if status < 0 else None
    if name == "TargetResponseTime":
        return secs if status > 0 else None
    return None


def _stat(stat, values):
    if stat == "Sum":
        return float(sum(values))
    if stat == "SampleCount":
        return float(len(values))
    if stat == "Average":
        return sum(values) / len(values)
    if stat == "Maximum":
        return max(values)
    if stat == "Minimum":
        return min(values)
    if stat.startswith("p"):
        q = float(stat[1:]) / 100.0
        s = sorted(values)
        return s[min(len(s) - 1, max(0, int(round(q * len(s) + 0.5)) - 1))]
    raise ApiError("InvalidParameterValue", "unsupported statistic " + stat)
