"""Wire level of the AWS test double: SigV4 verification with botocore's own signer,
request validation against the botocore service models in tests/data/aws/models, the
query protocol's form parsing (by the model, as AWS does), and answers in each protocol
(JSON 1.1, query XML) including AWS-shaped errors.

Everything here is pure: no state, no sockets. Debian's python3-botocore only.
"""

import datetime
import hashlib
import json
import os
import re
import uuid
from xml.sax.saxutils import escape

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.model import ServiceModel
from botocore.validate import ParamValidator

MODELS = {
    # signing name -> (model dir, version)
    "ecs": ("ecs", "2014-11-13"),
    "elasticloadbalancing": ("elbv2", "2015-12-01"),
    "monitoring": ("cloudwatch", "2010-08-01"),
    "sts": ("sts", "2011-06-15"),
}


class ApiError(Exception):
    """An AWS error answer: code, message, HTTP status, and whether it counts as a
    rejection (bad signature or a request the model refuses)."""

    def __init__(self, code, message, status=400, rejection=False, sender=True):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.rejection = rejection
        self.sender = sender


def load_models(models_dir):
    out = {}
    for signing, (folder, version) in MODELS.items():
        path = os.path.join(models_dir, folder, version, "service-2.json")
        with open(path, encoding="utf-8") as f:
            out[signing] = ServiceModel(json.load(f), service_name=folder)
    return out


# ---- SigV4 ----------------------------------------------------------------------------

AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
    r"SignedHeaders=([a-z0-9;\-]+), Signature=([0-9a-f]{64})$"
)


def parse_authorization(headers):
    value = headers.get("authorization")
    if value is None:
        raise ApiError("MissingAuthenticationToken", "Missing Authentication Token", 403, True)
    m = AUTH_RE.match(value)
    if m is None:
        raise ApiError("IncompleteSignature", "Authorization header is malformed: " + value,
                       403, True)
    key, date, region, service, signed, sig = m.groups()
    return {"key": key, "date": date, "region": region, "service": service,
            "signed": signed.split(";"), "signature": sig}


def verify_sigv4(method, path, headers, body, secrets, now=None):
    """Recomputes the request's signature with botocore's SigV4Auth from the headers it
    names as signed, and compares. <headers>: lower-case names. Returns the parsed
    Authorization. Raises ApiError (a rejection) on any mismatch."""
    a = parse_authorization(headers)
    secret = secrets.get(a["key"])
    if secret is None:
        raise ApiError("InvalidClientTokenId",
                       "The security token included in the request is invalid.", 403, True)
    amz_date = headers.get("x-amz-date", "")
    if not re.match(r"^\d{8}T\d{6}Z$", amz_date) or amz_date[:8] != a["date"]:
        raise ApiError("IncompleteSignature", "X-Amz-Date missing or not the credential date",
                       403, True)
    for required in ("host", "x-amz-date"):
        if required not in a["signed"]:
            raise ApiError("IncompleteSignature", required + " is not signed", 403, True)
    if "x-amz-security-token" in headers and "x-amz-security-token" not in a["signed"]:
        raise ApiError("IncompleteSignature", "X-Amz-Security-Token is not signed", 403, True)
    when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
        tzinfo=datetime.timezone.utc)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if abs((now - when).total_seconds()) > 15 * 60:
        raise ApiError("SignatureDoesNotMatch", "Signature expired: " + amz_date, 403, True)
    missing = [h for h in a["signed"] if h not in headers]
    if missing:
        raise ApiError("IncompleteSignature", "signed header absent: " + ",".join(missing),
                       403, True)
    signed = {h: headers[h] for h in a["signed"]}
    creds = Credentials(a["key"], secret, headers.get("x-amz-security-token"))
    signer = SigV4Auth(creds, a["service"], a["region"])
    req = AWSRequest(method=method, url="http://" + headers["host"] + path, data=body,
                     headers=signed)
    req.context["timestamp"] = amz_date
    canonical = signer.canonical_request(req)
    sts = signer.string_to_sign(req, canonical)
    expected = signer.signature(sts, req)
    if expected != a["signature"]:
        raise ApiError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "The Canonical String for this request should have been\n'%s'\n\nThe String-to-Sign "
            "should have been\n'%s'" % (canonical, sts), 403, True)
    return a


# ---- query protocol -------------------------------------------------------------------

_MISSING = object()


def _scalar(shape, raw):
    t = shape.type_name
    try:
        if t in ("integer", "long"):
            return int(raw)
        if t in ("double", "float"):
            return float(raw)
        if t == "boolean":
            if raw in ("true", "false"):
                return raw == "true"
            return raw
        if t == "timestamp":
            if re.match(r"^\d+(\.\d+)?$", raw):
                return datetime.datetime.fromtimestamp(float(raw), datetime.timezone.utc)
            return datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return raw  # the validator reports the wrong type
    return raw


def _from_form(shape, form, prefix, used):
    t = shape.type_name
    if t == "structure":
        out = {}
        for name, member in shape.members.items():
            key = member.serialization.get("name", name)
            key = prefix + "." + key if prefix else key
            v = _from_form(member, form, key, used)
            if v is not _MISSING:
                out[name] = v
        if prefix and not out and not any(k.startswith(prefix + ".") for k in form):
            return _MISSING
        return out
    if t == "list":
        if form.get(prefix) == "":
            used.add(prefix)
            return []
        flat = shape.serialization.get("flattened")
        items, i = [], 1
        while True:
            key = "%s.%d" % (prefix, i) if flat else "%s.member.%d" % (prefix, i)
            v = _from_form(shape.member, form, key, used)
            if v is _MISSING:
                break
            items.append(v)
            i += 1
        return items if items else _MISSING
    if t == "map":
        out, i = {}, 1
        while True:
            k = "%s.entry.%d.key" % (prefix, i)
            if k not in form:
                break
            used.add(k)
            out[form[k]] = _from_form(shape.value, form, "%s.entry.%d.value" % (prefix, i),
                                      used)
            i += 1
        return out if out else _MISSING
    if prefix not in form:
        return _MISSING
    used.add(prefix)
    return _scalar(shape, form[prefix])


def parse_query(model, form):
    """Form fields -> (operation model, params). Raises ApiError like ELBv2/CloudWatch/STS
    do: unknown action -> InvalidAction, wrong version, unknown parameter or a
    model violation -> ValidationError."""
    action = form.get("Action")
    if action is None or action not in model.operation_names:
        raise ApiError("InvalidAction", "Could not find operation %s for version %s" % (
            action, form.get("Version")), 400, True)
    if form.get("Version") != model.api_version:
        raise ApiError("InvalidAction", "Could not find operation %s for version %s" % (
            action, form.get("Version")), 400, True)
    op = model.operation_model(action)
    used = {"Action", "Version"}
    params = {}
    if op.input_shape is not None:
        params = _from_form(op.input_shape, form, "", used)
    extra = sorted(set(form) - used)
    if extra:
        raise ApiError("ValidationError", "Unknown parameter(s) in input: " + ", ".join(extra),
                       400, True)
    validate(op, params, "ValidationError")
    return op, params


def validate(op, params, code):
    if op.input_shape is None:
        if params:
            raise ApiError(code, "Operation %s takes no parameters" % op.name, 400, True)
        return
    report = ParamValidator().validate(params, op.input_shape)
    if report.has_errors():
        raise ApiError(code, report.generate_report(), 400, True)


def parse_json(model, target, body):
    """JSON 1.1 request -> (operation model, params); ECS's own error codes."""
    prefix = model.metadata.get("targetPrefix")
    if not target or "." not in target or target.split(".", 1)[0] != prefix:
        raise ApiError("UnknownOperationException", "Unknown operation " + str(target),
                       400, True)
    name = target.split(".", 1)[1]
    if name not in model.operation_names:
        raise ApiError("UnknownOperationException", "Unknown operation " + name, 400, True)
    op = model.operation_model(name)
    try:
        params = json.loads(body.decode("utf-8") or "{}")
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError("SerializationException", "Malformed JSON: %s" % e, 400, True)
    if not isinstance(params, dict):
        raise ApiError("SerializationException", "Body is not a JSON object", 400, True)
    validate(op, params, "InvalidParameterException")
    return op, params


# ---- answers ----------------------------------------------------------------------------

def _iso(v):
    if isinstance(v, (int, float)):
        v = datetime.datetime.fromtimestamp(v, datetime.timezone.utc)
    return v.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _xml(shape, value, name):
    t = shape.type_name
    if t == "structure":
        inner = "".join(
            _xml(m, value[k], m.serialization.get("name", k))
            for k, m in shape.members.items() if k in value and value[k] is not None)
        return "<%s>%s</%s>" % (name, inner, name)
    if t == "list":
        inner = "".join(_xml(shape.member, v, "member") for v in value)
        return "<%s>%s</%s>" % (name, inner, name)
    if t == "map":
        inner = "".join("<entry>%s%s</entry>" % (_xml(shape.key, k, "key"),
                                                   _xml(shape.value, v, "value"))
                        for k, v in value.items())
        return "<%s>%s</%s>" % (name, inner, name)
    if t == "boolean":
        text = "true" if value else "false"
    elif t == "timestamp":
        text = _iso(value)
    else:
        text = escape(str(value))
    return "<%s>%s</%s>" % (name, text, name)


def query_answer(model, op, result):
    ns = model.metadata.get("xmlNamespace", {})
    ns = ns.get("uri") if isinstance(ns, dict) else ns
    ns = ns or "http://%s.amazonaws.com/doc/%s/" % (model.endpoint_prefix, model.api_version)
    out = op.output_shape
    body = ""
    if out is not None:
        wrapper = out.serialization.get("resultWrapper", op.name + "Result")
        body = _xml(out, result or {}, wrapper)
    return ('<%sResponse xmlns="%s">%s<ResponseMetadata><RequestId>%s</RequestId>'
            '</ResponseMetadata></%sResponse>' % (op.name, ns, body, uuid.uuid4(), op.name))


def _jsonable(shape, value):
    t = shape.type_name
    if t == "structure":
        return {k: _jsonable(m, value[k]) for k, m in shape.members.items()
                if k in value and value[k] is not None}
    if t == "list":
        return [_jsonable(shape.member, v) for v in value]
    if t == "map":
        return {k: _jsonable(shape.value, v) for k, v in value.items()}
    if t == "timestamp":
        if isinstance(value, datetime.datetime):
            return value.timestamp()
        return float(value)
    return value


def json_answer(op, result):
    if op.output_shape is None:
        return "{}"
    return json.dumps(_jsonable(op.output_shape, result or {}))


def error_answer(protocol, err, request_id):
    """(status, content type, body) of an AWS error in <protocol>."""
    if protocol == "json":
        return err.status, "application/x-amz-json-1.1", json.dumps(
            {"__type": err.code, "message": err.message})
    kind = "Sender" if err.sender else "Receiver"
    return err.status, "text/xml", (
        "<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error>"
        "<RequestId>%s</RequestId></ErrorResponse>" % (kind, escape(err.code),
                                                        escape(err.message), request_id))


def body_sha256(body):
    return hashlib.sha256(body).hexdigest()
