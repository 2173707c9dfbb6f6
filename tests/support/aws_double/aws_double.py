#!/usr/bin/python3
"""A local stand-in for AWS ECS, ELBv2, CloudWatch and STS, for tests (issue 10).

One HTTP endpoint on 127.0.0.1 answers all four services as AWS does: JSON 1.1 for ECS
(X-Amz-Target), the query protocol with XML answers for the others (the service is the
signing name in the SigV4 credential scope). Every request's signature is recomputed with
botocore's signer and every request is validated against the botocore models in
tests/data/aws/models; a request that fails either is answered with the error AWS gives
and counted as a rejection (GET /_double/rejections). Faults are injected by config
(--config FILE, or POST /_double/faults with the same JSON):

  {"throttle_share": 0.3,       share of API calls answered with a throttling error
   "error_5xx_share": 0.0,      share answered with 500 InternalFailure / ServiceUnavailable
   "latency_ms": 0,             added before every API answer
   "consistency_lag_ms": 0,     describe calls see rules/services as they were this long ago
   "cannot_pull": ["bad"],      images containing one of these stop with CannotPullContainerError
   "time_scale": 0.05,          multiplies health-check intervals and deregistration delays
   "secrets": {"AKID": "SECRET"}}  access keys the double accepts

Usage: aws_double.py --port-file F --sample-app build/sample-app --state-dir D
                     [--port N] [--config FILE] [--region R]
Writes the port to --port-file once it serves. SIGTERM stops every task process.
"""

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn
from urllib.parse import parse_qsl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import elb as elb_mod  # noqa: E402
import ecs as ecs_mod  # noqa: E402
import wire  # noqa: E402
from wire import ApiError  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "data", "aws", "models"))

DEFAULT_CONFIG = {
    "throttle_share": 0.0, "error_5xx_share": 0.0, "latency_ms": 0, "consistency_lag_ms": 0,
    "cannot_pull": [], "time_scale": 1.0,
    "secrets": {"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
}


class Double:
    def __init__(self, config, region, sample_app, state_dir):
        self.lock = threading.RLock()
        self.config = dict(DEFAULT_CONFIG)
        self.config.update(config)
        self.region = region
        self.models = wire.load_models(MODELS_DIR)
        self.elb = elb_mod.Elb(self.lock, self.config, region)
        self.ecs = ecs_mod.Ecs(self.lock, self.config, region, self.elb, sample_app, state_dir)
        self.rejections = []
        self.rejection_count = 0
        self.calls = {}
        self.injected = {"throttled": 0, "5xx": 0}

    def reject(self, service, op, err):
        with self.lock:
            self.rejection_count += 1
            self.rejections.append({"service": service, "op": op, "code": err.code,
                                    "message": err.message[:2000], "time": time.time()})
            del self.rejections[:-50]

    def dispatch(self, service, op, params):
        if service == "ecs":
            target = self.ecs
        elif service == "elasticloadbalancing":
            target = self.elb
        elif service == "monitoring":
            if op != "GetMetricData":
                raise ApiError("InvalidAction", "the double serves GetMetricData only")
            return elb_mod.get_metric_data(self.elb, params)
        elif service == "sts":
            if op != "GetCallerIdentity":
                raise ApiError("InvalidAction", "the double serves GetCallerIdentity only")
            return {"UserId": "AIDADOUBLE", "Account": elb_mod.ACCOUNT,
                    "Arn": "arn:aws:iam::%s:user/bluegreen-test" % elb_mod.ACCOUNT}
        fn = getattr(target, op, None)
        if fn is None or not op[:1].isupper():
            raise ApiError("InvalidAction", "the double does not implement " + op)
        with self.lock:
            return fn(params)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, ctype, body, extra=None):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        d = self.server.double
        if self.path == "/_double/rejections":
            with d.lock:
                body = {"count": d.rejection_count, "recent": d.rejections[-20:]}
            return self._send(200, "application/json", json.dumps(body))
        if self.path == "/_double/stats":
            with d.lock:
                body = {"calls": d.calls, "injected": d.injected,
                        "rejections": d.rejection_count}
            return self._send(200, "application/json", json.dumps(body))
        if self.path == "/_double/health":
            return self._send(200, "text/plain", "ok\n")
        return self._send(404, "text/plain", "not found\n")

    def do_POST(self):
        d = self.server.double
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path == "/_double/faults":
            try:
                new = json.loads(body.decode("utf-8"))
            except ValueError as e:
                return self._send(400, "text/plain", "bad JSON: %s\n" % e)
            with d.lock:
                d.config.update(new)
            return self._send(200, "application/json", json.dumps(d.config))
        self._api(d, body)

    def _api(self, d, body):
        headers = {k.lower(): v for k, v in self.headers.items()}
        rid = str(uuid.uuid4())
        target = headers.get("x-amz-target")
        protocol = "json" if target else "query"
        service, op = "?", "?"
        try:
            auth = wire.verify_sigv4("POST", self.path, headers, body, d.config["secrets"])
            service = auth["service"]
            model = d.models.get(service)
            if model is None:
                raise ApiError("UnrecognizedClientException", "unknown service " + service,
                               400, True)
            expected = "json" if model.metadata["protocol"] == "json" else "query"
            if expected != protocol:
                raise ApiError("UnknownOperationException" if expected == "json" else "InvalidAction",
                               "wrong protocol for " + service, 400, True)
            ctype = headers.get("content-type", "")
            if protocol == "json":
                if ctype != "application/x-amz-json-1.1":
                    raise ApiError("SerializationException", "Content-Type " + ctype, 400, True)
                op_model, params = wire.parse_json(model, target, body)
            else:
                if not ctype.startswith("application/x-www-form-urlencoded"):
                    raise ApiError("InvalidAction", "Content-Type " + ctype, 400, True)
                form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
                op_model, params = wire.parse_query(model, form)
            op = op_model.name
            with d.lock:
                d.calls[op] = d.calls.get(op, 0) + 1
                cfg = dict(d.config)
            if cfg.get("latency_ms"):
                time.sleep(cfg["latency_ms"] / 1000.0)
            if random.random() < cfg.get("throttle_share", 0):
                with d.lock:
                    d.injected["throttled"] += 1
                raise ApiError("ThrottlingException" if protocol == "json" else "Throttling",
                               "Rate exceeded", 400)
            if random.random() < cfg.get("error_5xx_share", 0):
                with d.lock:
                    d.injected["5xx"] += 1
                raise ApiError("ServiceUnavailable" if protocol == "query" else "ServerException",
                               "Service is unavailable", 503, sender=False)
            result = d.dispatch(service, op, params)
            if protocol == "json":
                return self._send(200, "application/x-amz-json-1.1",
                                  wire.json_answer(op_model, result), {"x-amzn-RequestId": rid})
            return self._send(200, "text/xml", wire.query_answer(model, op_model, result))
        except ApiError as e:
            if e.rejection:
                d.reject(service, op, e)
            status, ctype, text = wire.error_answer(protocol, e, rid)
            extra = {"x-amzn-RequestId": rid}
            if protocol == "json":
                extra["x-amzn-ErrorType"] = e.code
            return self._send(status, ctype, text, extra)


class Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--config")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--sample-app", required=True)
    ap.add_argument("--state-dir", required=True)
    args = ap.parse_args()
    config = {}
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            config = json.load(f)
    os.makedirs(args.state_dir, exist_ok=True)
    double = Double(config, args.region, os.path.abspath(args.sample_app), args.state_dir)
    server = Server(("127.0.0.1", args.port), Handler)
    server.double = double

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, args.port_file)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        double.ecs.shutdown()
        double.elb.stop.set()


if __name__ == "__main__":
    main()
