#!/usr/bin/env python3
"""examples/ecs/iam-policy.json is the least-privilege policy of the ecs driver (issue 10):

  1. it is valid JSON and a well-formed IAM policy (Version 2012-10-17, Allow statements,
     explicit action names: no wildcard);
  2. its actions are exactly the AWS operations src/ calls: every operation name that
     reaches bg_aws_call() / bg_aws_call_delayed() in any src/**/*.c file, mapped to its
     IAM action (ecs:, elasticloadbalancing:, cloudwatch:, sts:). iam:PassRole (the task
     and execution roles handed to RegisterTaskDefinition) is the one allowed extra, and
     only for ecs-tasks.amazonaws.com;
  3. every one of those actions is an operation of the AWS API models in tests/data/aws/;
  4. docs/ecs.md names every action of the policy.

Operation names are followed from the call to where they are written: a literal in the
call, a variable assigned literals in the same function (`name = "DescribeRules";`,
`op = exists ? "UpdateService" : "CreateService"`), or a parameter of a function of the
same file, resolved at each of its call sites. The service is resolved the same way
(`&bg_aws_ecs`, or a variable assigned `&bg_aws_...`). A call whose operation cannot be
followed fails the test, so a new call can never slip past the policy.

Run from the repository root (ctest does). Exit 0 ok, 1 with every finding listed.
"""
import glob
import json
import os
import re
import sys

MODELS = {
    "bg_aws_ecs": ("ecs", "tests/data/aws/models/ecs/2014-11-13/service-2.json"),
    "bg_aws_elbv2": ("elasticloadbalancing", "tests/data/aws/models/elbv2/2015-12-01/service-2.json"),
    "bg_aws_cloudwatch": ("cloudwatch", "tests/data/aws/models/cloudwatch/2010-08-01/service-2.json"),
    "bg_aws_sts": ("sts", "tests/data/aws/models/sts/2011-06-15/service-2.json"),
}
# Position of (service, operation) among the arguments of each entry point.
ENTRY = {"bg_aws_call": (1, 2), "bg_aws_call_delayed": (2, 3)}
POLICY = "examples/ecs/iam-policy.json"
DOC = "docs/ecs.md"
EXTRA = {"iam:PassRole"}

problems = []


def strip_comments(src):
    """Blanks comments, keeps string literals and line numbers."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            out.append(src[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def match_close(s, i, open_c, close_c):
    """Index of the bracket closing the one at s[i] (strings skipped)."""
    depth, j = 0, i
    while j < len(s):
        c = s[j]
        if c in "\"'":
            k = j + 1
            while k < len(s) and s[k] != c:
                k += 2 if s[k] == "\\" else 1
            j = k
        elif c == open_c:
            depth += 1
        elif c == close_c:
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return -1


def split_args(s):
    """Top-level comma split of an argument list (without its parentheses)."""
    args, depth, cur, j = [], 0, [], 0
    while j < len(s):
        c = s[j]
        if c in "\"'":
            k = j + 1
            while k < len(s) and s[k] != c:
                k += 2 if s[k] == "\\" else 1
            cur.append(s[j:k + 1])
            j = k + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            args.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
        j += 1
    if "".join(cur).strip():
        args.append("".join(cur).strip())
    return args


class Func:
    def __init__(self, name, params, body, offset):
        self.name, self.params, self.body, self.offset = name, params, body, offset


def functions(src):
    """Top-level function definitions: name, parameter names, body."""
    funcs, depth, i = {}, 0, 0
    head = re.compile(r"([A-Za-z_]\w*)\s*\(([^;{}]*)\)\s*$", re.S)
    while i < len(src):
        c = src[i]
        if c in "\"'":
            k = i + 1
            while k < len(src) and src[k] != c:
                k += 2 if src[k] == "\\" else 1
            i = k + 1
            continue
        if c == "{" and depth == 0:
            end = match_close(src, i, "{", "}")
            m = head.search(src[max(0, i - 2000):i])
            if m and m.group(1) not in ("if", "for", "while", "switch"):
                params = []
                for p in split_args(m.group(2)):
                    pm = re.search(r"([A-Za-z_]\w*)\s*(\[\s*\w*\s*\])?$", p)
                    params.append(pm.group(1) if pm else "")
                funcs[m.group(1)] = Func(m.group(1), params, src[i:end + 1], i)
            i = end + 1
            continue
        i += 1
    return funcs


def calls_in(text, name):
    """Argument lists of every call of <name> in <text>, with their offsets."""
    for m in re.finditer(r"\b%s\s*\(" % re.escape(name), text):
        open_i = m.end() - 1
        close_i = match_close(text, open_i, "(", ")")
        if close_i > 0:
            yield m.start(), split_args(text[open_i + 1:close_i])


def assignments(body, ident):
    """Right-hand sides assigned to <ident> in <body> (declarations included)."""
    for m in re.finditer(r"(?<![\w.>])%s\s*=(?!=)" % re.escape(ident), body):
        end = body.find(";", m.end())
        yield body[m.end():end if end >= 0 else len(body)]


def resolve(path, funcs, fn, expr, pattern, where, seen):
    """Values of <pattern> (a regex with one group) that <expr> can carry in <fn>."""
    found = set(re.findall(pattern, expr))
    if found:
        return found
    ident = expr.strip().lstrip("&").strip()
    if ident in ("NULL", "0"):
        return set()  # a declaration's initial value, assigned for real further on
    if not re.fullmatch(r"[A-Za-z_]\w*", ident):
        problems.append("%s: cannot follow `%s`" % (where, expr))
        return set()
    rhs = list(assignments(fn.body, ident))
    if rhs:
        for r in rhs:
            found |= resolve(path, funcs, fn, r, pattern, where, seen)
        return found
    if ident in fn.params:
        k = fn.params.index(ident)
        if fn.name in ENTRY:
            return set()  # the client's own entry points forward their parameters
        if (fn.name, k) in seen:
            return set()
        seen = seen | {(fn.name, k)}
        callers = 0
        for caller in funcs.values():
            for _, args in calls_in(caller.body, fn.name):
                if k < len(args):
                    callers += 1
                    found |= resolve(path, funcs, caller, args[k], pattern,
                                     "%s (via %s)" % (where, caller.name), seen)
        if callers == 0:
            problems.append("%s: `%s` is a parameter of %s, which nothing in %s calls"
                            % (where, ident, fn.name, path))
        return found
    problems.append("%s: cannot follow `%s` (not assigned in %s)" % (where, ident, fn.name))
    return set()


def called_actions(models):
    actions = {}
    files = sorted(glob.glob("src/**/*.c", recursive=True))
    for path in files:
        with open(path, encoding="utf-8") as f:
            raw = f.read()
        if "bg_aws_call" not in raw:
            continue
        src = strip_comments(raw)
        funcs = functions(src)
        for fn in funcs.values():
            for entry, (si, oi) in ENTRY.items():
                for off, args in calls_in(fn.body, entry):
                    line = src.count("\n", 0, fn.offset + off) + 1
                    where = "%s:%d" % (path, line)
                    if len(args) <= oi:
                        problems.append("%s: %s with %d arguments" % (where, entry, len(args)))
                        continue
                    svcs = resolve(path, funcs, fn, args[si], r"\b(bg_aws_(?:ecs|elbv2|cloudwatch|sts))\b",
                                   where, frozenset())
                    ops = resolve(path, funcs, fn, args[oi], r'"([^"\\]*)"', where, frozenset())
                    if fn.name in ENTRY and not svcs and not ops:
                        continue
                    if not svcs or not ops:
                        problems.append("%s: %s: cannot tell which operation it calls" % (where, entry))
                        continue
                    for op in ops:
                        owners = [s for s in svcs if op in models[s][1]]
                        if len(owners) != 1:
                            problems.append(
                                "%s: %s is an operation of %s in tests/data/aws/models"
                                % (where, op, " and ".join(sorted(owners)) if owners else
                                   "none of " + ", ".join(sorted(svcs))))
                            continue
                        action = "%s:%s" % (models[owners[0]][0], op)
                        actions.setdefault(action, []).append(where)
    return actions


def policy_actions():
    with open(POLICY, encoding="utf-8") as f:
        try:
            pol = json.load(f)
        except json.JSONDecodeError as e:
            problems.append("%s is not valid JSON: %s" % (POLICY, e))
            return {}
    if pol.get("Version") != "2012-10-17":
        problems.append("%s: Version must be 2012-10-17" % POLICY)
    stmts = pol.get("Statement")
    if not isinstance(stmts, list) or not stmts:
        problems.append("%s: Statement must be a non-empty list" % POLICY)
        return {}
    actions = {}
    for k, s in enumerate(stmts):
        sid = s.get("Sid", "#%d" % k)
        if s.get("Effect") != "Allow":
            problems.append("%s: statement %s: Effect must be Allow" % (POLICY, sid))
        if "Resource" not in s or "NotResource" in s or "NotAction" in s:
            problems.append("%s: statement %s: needs Resource (no NotResource/NotAction)" % (POLICY, sid))
        acts = s.get("Action")
        acts = [acts] if isinstance(acts, str) else acts
        if not isinstance(acts, list) or not acts:
            problems.append("%s: statement %s: Action must name actions" % (POLICY, sid))
            continue
        for a in acts:
            if not isinstance(a, str) or not re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", a):
                problems.append("%s: statement %s: %r is not one explicit action" % (POLICY, sid, a))
                continue
            actions.setdefault(a, []).append(s)
    for s in actions.get("iam:PassRole", []):
        cond = json.dumps(s.get("Condition", {}))
        if "iam:PassedToService" not in cond or "ecs-tasks.amazonaws.com" not in cond:
            problems.append("%s: iam:PassRole must be limited to ecs-tasks.amazonaws.com "
                            "(Condition StringEquals iam:PassedToService)" % POLICY)
        if s.get("Resource") == "*":
            problems.append("%s: iam:PassRole must name the task and execution roles" % POLICY)
    return actions


def main():
    os.chdir(os.environ.get("BG_SOURCE_DIR", os.getcwd()))
    models = {}
    for var, (prefix, path) in MODELS.items():
        with open(path, encoding="utf-8") as f:
            models[var] = (prefix, set(json.load(f)["operations"]))
    model_actions = {"%s:%s" % (p, op) for p, ops in models.values() for op in ops}

    called = called_actions(models)
    granted = policy_actions()
    if not called:
        problems.append("no bg_aws_call found in src/: the scan is broken")
    for a in sorted(set(called) - set(granted)):
        problems.append("src calls %s (%s) but %s does not grant it"
                        % (a, ", ".join(called[a]), POLICY))
    for a in sorted(set(granted) - set(called) - EXTRA):
        problems.append("%s grants %s, which nothing in src/ calls (least privilege: remove it)"
                        % (POLICY, a))
    for a in sorted(set(granted) - EXTRA):
        if a not in model_actions:
            problems.append("%s grants %s: no such operation in tests/data/aws/models" % (POLICY, a))
    with open(DOC, encoding="utf-8") as f:
        doc = f.read()
    for a in sorted(granted):
        if "`%s`" % a not in doc:
            problems.append("%s does not name `%s` (the policy's actions are documented there)"
                            % (DOC, a))

    if problems:
        for p in problems:
            print("iam_policy: " + p, file=sys.stderr)
        return 1
    print("iam_policy: %d actions, the exact set src/ calls (+ %s):"
          % (len(granted), ", ".join(sorted(EXTRA & set(granted))) or "no extra"))
    for a in sorted(called):
        print("  %-45s %s" % (a, ", ".join(sorted(set(called[a])))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
