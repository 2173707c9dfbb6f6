#!/usr/bin/env python3
"""Static check of packaging/docker/Dockerfile, for machines where no Docker daemon can
pull debian:12 (CI has no registry access): every instruction is a Dockerfile instruction,
the first is FROM, every COPY --from names an earlier stage, every COPY source exists in
the build context (the repository root), the build stage installs only packages that
scripts/install-deps.sh installs (CI proves those install), the runtime stage's libraries
are installed Debian packages here, and the container's config passes check-config.

usage: dockerfile.py BLUEGREEN   (run from the repository root)
"""
import glob
import os
import re
import shlex
import subprocess
import sys

INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
                "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK",
                "SHELL"}


def fail(msg):
    sys.exit("dockerfile: " + msg)


def instructions(path):
    """(line number, keyword, argument text) with continuation lines joined."""
    out, buf, start = [], "", 0
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        if not buf and (line.strip() == "" or line.lstrip().startswith("#")):
            continue
        if not buf:
            start = n
        if line.rstrip("\n").endswith("\\"):
            buf += line.rstrip("\n")[:-1] + " "
            continue
        buf += line.strip()
        kw, _, arg = buf.partition(" ")
        out.append((start, kw, arg.strip()))
        buf = ""
    if buf:
        fail("unterminated continuation at line %d" % start)
    return out


def apt_packages(run_arg):
    pkgs = []
    for part in run_arg.split("&&"):
        words = shlex.split(part)
        if words[:2] == ["apt-get", "install"]:
            pkgs += [w for w in words[2:] if not w.startswith("-")]
    return pkgs


def main():
    binary = sys.argv[1]
    df = "packaging/docker/Dockerfile"
    ins = instructions(df)
    if not ins or ins[0][1] != "FROM":
        fail("the first instruction must be FROM")
    stages, stage_pkgs = [], []
    deps = open("scripts/install-deps.sh", encoding="utf-8").read()
    m = re.search(r"PACKAGES=\((.*?)\n\)", deps, re.S)
    ci_pkgs = set(re.sub(r"#[^\n]*", "", m.group(1)).split())
    for n, kw, arg in ins:
        if kw not in INSTRUCTIONS:
            fail("line %d: unknown instruction %s" % (n, kw))
        if kw == "FROM":
            words = arg.split()
            if not words[0].startswith("debian:12"):
                fail("line %d: stages build on debian:12, not %s" % (n, words[0]))
            stages.append(words[2] if len(words) == 3 and words[1].upper() == "AS" else None)
            stage_pkgs.append([])
        elif kw == "RUN":
            stage_pkgs[-1] += apt_packages(arg)
        elif kw == "COPY":
            words = shlex.split(arg)
            src_from = [w for w in words if w.startswith("--from=")]
            paths = [w for w in words if not w.startswith("--")]
            if len(paths) < 2:
                fail("line %d: COPY needs a source and a destination" % n)
            if src_from:
                name = src_from[0][len("--from="):]
                if name not in stages[:-1]:
                    fail("line %d: COPY --from=%s names no earlier stage" % (n, name))
            else:
                for p in paths[:-1]:
                    if not glob.glob(p):
                        fail("line %d: COPY source %s is not in the repository" % (n, p))
        elif kw in ("CMD", "ENTRYPOINT"):
            if not arg.startswith("["):
                fail("line %d: %s in exec form (JSON array), so SIGTERM reaches serve" % (n, kw))
    if len(stages) < 2:
        fail("expected a build stage and a runtime stage")
    extra = [p for p in stage_pkgs[0] if p not in ci_pkgs]
    if extra:
        fail("build stage installs packages scripts/install-deps.sh does not: %s" % extra)
    for p in stage_pkgs[-1]:
        if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0:
            fail("runtime package %s is not an installed Debian package here" % p)
    r = subprocess.run([binary, "-c", "packaging/docker/bluegreen.yaml", "check-config"],
                       capture_output=True, text=True,
                       env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
    if r.returncode != 0:
        fail("packaging/docker/bluegreen.yaml: " + r.stdout + r.stderr)
    print("dockerfile: ok (%d instructions, %d stages)" % (len(ins), len(stages)))


if __name__ == "__main__":
    main()
