#!/usr/bin/env python3
"""Runs the `run:` steps of one job of a GitHub Actions workflow on this machine, the way
a GitHub runner would, so a workflow's shell cannot drift from what works.

usage: run_workflow.py WORKFLOW.yml --job JOB --workspace DIR [--set CTX.KEY=VALUE]...
                       [--step-timeout SECONDS] [--report FILE]

What it does, as GitHub does: workflow `env`, then job `env`, then step `env` (each value
expanded); `${{ ... }}` expressions expanded in `run`, `env` and `working-directory`;
each step runs as `bash --noprofile --norc -eo pipefail FILE` in the workspace (or its
`working-directory`) with GITHUB_WORKSPACE, GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH,
GITHUB_STEP_SUMMARY, GITHUB_SHA, GITHUB_RUN_NUMBER, GITHUB_RUN_ID, GITHUB_REPOSITORY,
GITHUB_ACTOR, RUNNER_TEMP and CI=true set; GITHUB_OUTPUT lines become
`steps.<id>.outputs.<name>`, GITHUB_ENV lines become env of the later steps (both the
`k=v` and the `k<<DELIM` forms). The first failing step stops the job (its exit status is
ours).

What it refuses (exit 2), so an example cannot silently use what is not run here:
expressions other than a dotted name from github, vars, secrets, env, steps.<id>.outputs,
runner; an unknown name; `if:` on a step; a shell other than bash; `uses:` other than
actions/checkout (which is skipped: the workspace is the checkout).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class Refused(Exception):
    pass


def expand(text, ctx):
    """Expands ${{ name }} in text; ctx maps dotted names to strings."""
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text).lower() if isinstance(text, bool) else str(text)

    def one(m):
        name = m.group(1)
        if not NAME.match(name):
            raise Refused(f"expression '{m.group(0)}' is not a plain name")
        if name not in ctx:
            raise Refused(f"expression '{m.group(0)}': '{name}' has no value here (give it with --set)")
        return ctx[name]

    return EXPR.sub(one, text)


def read_kv_file(path):
    """GitHub's GITHUB_OUTPUT / GITHUB_ENV format: k=v lines and k<<DELIM blocks."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            val = []
            while i < len(lines) and lines[i] != delim:
                val.append(lines[i])
                i += 1
            if i >= len(lines):
                raise Refused(f"{path}: '{key}<<{delim}' is not closed")
            i += 1
            out[key] = "\n".join(val)
        elif "=" in line:
            key, val = line.split("=", 1)
            out[key] = val
        else:
            raise Refused(f"{path}: line '{line}' is neither k=v nor k<<DELIM")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workflow")
    ap.add_argument("--job", required=True)
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--set", action="append", default=[], metavar="CTX.KEY=VALUE")
    ap.add_argument("--step-timeout", type=float, default=300)
    ap.add_argument("--report")
    a = ap.parse_args()

    with open(a.workflow, encoding="utf-8") as f:
        wf = yaml.safe_load(f)
    job = (wf.get("jobs") or {}).get(a.job)
    if job is None:
        raise Refused(f"{a.workflow} has no job '{a.job}'")

    ctx = {}
    for s in a.set:
        if "=" not in s:
            raise Refused(f"--set {s}: expected CTX.KEY=VALUE")
        k, v = s.split("=", 1)
        ctx[k] = v
    ws = os.path.abspath(a.workspace)
    ctx.setdefault("github.workspace", ws)
    tmp = tempfile.mkdtemp(prefix="run_workflow.")
    ctx.setdefault("runner.temp", tmp)

    base = dict(os.environ)
    base.update({
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": ws,
        "GITHUB_SHA": ctx.get("github.sha", ""),
        "GITHUB_RUN_NUMBER": ctx.get("github.run_number", ""),
        "GITHUB_RUN_ID": ctx.get("github.run_id", ""),
        "GITHUB_REPOSITORY": ctx.get("github.repository", ""),
        "GITHUB_ACTOR": ctx.get("github.actor", ""),
        "GITHUB_REF": ctx.get("github.ref", ""),
        "GITHUB_STEP_SUMMARY": os.path.join(tmp, "summary.md"),
        "RUNNER_TEMP": tmp,
    })
    env_file = os.path.join(tmp, "github_env")
    path_file = os.path.join(tmp, "github_path")
    open(env_file, "w").close()
    open(path_file, "w").close()
    base["GITHUB_ENV"] = env_file
    base["GITHUB_PATH"] = path_file

    def layer(env_map, into, c):
        for k, v in (env_map or {}).items():
            val = expand(v, c)
            into[k] = val
            c["env." + k] = val

    wf_env = {}
    layer(wf.get("env"), wf_env, ctx)
    layer(job.get("env"), wf_env, ctx)

    report = {"steps": []}
    rc = 0
    for n, step in enumerate(job.get("steps") or [], 1):
        name = step.get("name") or step.get("id") or step.get("uses") or f"step {n}"
        if "if" in step:
            raise Refused(f"step '{name}': 'if:' is not supported here")
        if "uses" in step:
            if str(step["uses"]).startswith("actions/checkout@"):
                print(f"--- [{n}] {name}: skipped (the workspace is the checkout)", flush=True)
                continue
            raise Refused(f"step '{name}': uses: {step['uses']} cannot run here")
        if "run" not in step:
            raise Refused(f"step '{name}' has neither run nor uses")
        shell = step.get("shell", job.get("defaults", {}).get("run", {}).get("shell", "bash"))
        if shell != "bash":
            raise Refused(f"step '{name}': shell '{shell}' is not supported (bash only)")

        env = dict(base)
        env.update(wf_env)
        for k, v in read_kv_file(env_file).items():
            env[k] = v
            ctx["env." + k] = v
        with open(path_file, encoding="utf-8") as f:
            extra = [p for p in f.read().split("\n") if p]
        if extra:
            env["PATH"] = ":".join(reversed(extra)) + ":" + env["PATH"]
        sctx = dict(ctx)  # the step's env is in its own env context only
        step_env = {}
        layer(step.get("env"), step_env, sctx)
        env.update(step_env)
        out_file = os.path.join(tmp, f"output.{n}")
        open(out_file, "w").close()
        env["GITHUB_OUTPUT"] = out_file
        script = expand(step["run"], sctx)
        cwd = os.path.join(ws, expand(step.get("working-directory", ""), sctx))
        sfile = os.path.join(tmp, f"step.{n}.sh")
        with open(sfile, "w", encoding="utf-8") as f:
            f.write(script)
        print(f"--- [{n}] {name}", flush=True)
        for line in script.rstrip("\n").split("\n"):
            print(f"    | {line}", flush=True)
        try:
            p = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", sfile],
                               cwd=cwd, env=env, timeout=a.step_timeout)
            src = p.returncode
        except subprocess.TimeoutExpired:
            print(f"--- [{n}] {name}: timed out after {a.step_timeout}s", flush=True)
            src = 124
        outputs = read_kv_file(out_file)
        sid = step.get("id")
        if sid:
            for k, v in outputs.items():
                ctx[f"steps.{sid}.outputs.{k}"] = v
        report["steps"].append({"n": n, "name": name, "id": sid, "rc": src, "outputs": outputs})
        if src != 0:
            print(f"--- [{n}] {name}: exit {src}", flush=True)
            rc = src
            break
    report["rc"] = rc
    report["summary"] = base["GITHUB_STEP_SUMMARY"]
    if a.report:
        with open(a.report, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
    return rc


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Refused as e:
        print(f"run_workflow: {e}", file=sys.stderr)
        sys.exit(2)
