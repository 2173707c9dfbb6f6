#!/usr/bin/env python3
"""Writes the man pages of bluegreen from the binary's own help text, so the pages and
`--help` cannot disagree: bluegreen.1 from `bluegreen --help`, and bluegreen-VERB.1 from
`bluegreen help VERB` for every command `--help` lists.

usage: help2man.py BLUEGREEN OUTDIR

The help text is plain text laid out for a terminal; this maps its shapes to roff:
"Usage: ..." (and its continuation lines) -> SYNOPSIS; the one-line summary -> NAME; a line
ending in ':' at column 0 ("Examples:", "Global options ...:", "Commands:") -> a section;
"Exit codes: ..." -> EXIT STATUS; indented lines -> a no-fill block; other lines -> text.
"""
import datetime
import os
import re
import subprocess
import sys

SECTION_NAMES = {
    "examples": "EXAMPLES",
    "commands": "COMMANDS",
    "global options (before or after the command)": "GLOBAL OPTIONS",
}


def run(binary, *args):
    env = dict(os.environ)
    # A sanitizer build must not fail the docs on exit-time leak reports.
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    out = subprocess.run([binary, *args], capture_output=True, text=True, env=env, check=True)
    return out.stdout


def esc(text):
    """Escape one line of text for roff."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


def commands_of(main_help):
    """(name, summary) of every command in the Commands: block of `--help`."""
    cmds, inside = [], False
    for line in main_help.splitlines():
        if line.strip() == "Commands:":
            inside = True
            continue
        if inside:
            m = re.match(r"^  (\S+)\s+(.*)$", line)
            if not m:
                break
            cmds.append((m.group(1), m.group(2)))
    if not cmds:
        sys.exit("help2man: no Commands: block in `bluegreen --help`")
    return cmds


def body_to_roff(lines):
    """Text after the synopsis: sections, paragraphs and no-fill blocks."""
    out, mode = [], None  # mode: None | "text" | "nf"
    for line in lines:
        if line.strip() == "":
            if mode == "nf":
                out.append(".fi")
            mode = None
            continue
        heading = re.match(r"^([A-Z][^:]*):$", line)
        exit_codes = re.match(r"^Exit codes: (.*)$", line)
        if heading or exit_codes:
            if mode == "nf":
                out.append(".fi")
            name = "EXIT STATUS" if exit_codes else SECTION_NAMES.get(
                heading.group(1).lower(), heading.group(1).upper())
            out.append(".SH " + name)
            mode = None
            if exit_codes:
                out.append(esc(exit_codes.group(1)))
                mode = "text"
            continue
        if line.startswith(" "):
            if mode != "nf":
                out.append(".PP")
                out.append(".nf")
                mode = "nf"
            out.append(esc(line))
        else:
            if mode == "nf":
                out.append(".fi")
            if mode != "text":
                out.append(".PP")
                mode = "text"
            out.append(esc(line))
    if mode == "nf":
        out.append(".fi")
    return out


def page(name, summary, help_text, version, see_also):
    lines = help_text.rstrip("\n").splitlines()
    if not lines or not lines[0].startswith("Usage: "):
        sys.exit("help2man: %s: help does not start with 'Usage: '" % name)
    synopsis = [lines[0][len("Usage: "):]]
    i = 1
    while i < len(lines) and lines[i].startswith(" "):
        synopsis.append(lines[i].strip())
        i += 1
    rest = lines[i:]
    # A command's help repeats its summary as a sentence; NAME already says it.
    while rest and rest[0].strip() == "":
        rest = rest[1:]
    if rest and rest[0].rstrip(".") == summary:
        rest = rest[1:]
    epoch = os.environ.get("SOURCE_DATE_EPOCH")  # reproducible builds; else no date
    date = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).strftime(
        "%Y-%m-%d") if epoch else ""
    out = ['.TH %s 1 "%s" "bluegreen %s" "bluegreen manual"' % (name.upper(), date, version),
           ".SH NAME", "%s \\- %s" % (esc(name), esc(summary)),
           ".SH SYNOPSIS", ".nf"]
    out += [".B " + esc(s) if k == 0 else esc("    " + s) for k, s in enumerate(synopsis)]
    out += [".fi", ".SH DESCRIPTION"]
    out += body_to_roff(rest)
    out += [".SH SEE ALSO", ", ".join("\\fB%s\\fR(1)" % esc(s) for s in see_also)]
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: help2man.py BLUEGREEN OUTDIR")
    binary, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    version = run(binary, "--version").split()[-1]
    main_help = run(binary, "--help")
    cmds = commands_of(main_help)
    pages = {"bluegreen": page("bluegreen", "zero-downtime blue/green deployments with a "
                               "built-in load balancer", main_help, version,
                               ["bluegreen-" + c for c, _ in cmds])}
    for cmd, summary in cmds:
        pages["bluegreen-" + cmd] = page("bluegreen-" + cmd, summary, run(binary, "help", cmd),
                                         version, ["bluegreen"])
    for name, text in pages.items():
        with open(os.path.join(outdir, name + ".1"), "w", encoding="utf-8") as f:
            f.write(text)
    # Drop pages of commands that no longer exist (a stale page must not be installed).
    for f in os.listdir(outdir):
        if f.endswith(".1") and f[:-2] not in pages:
            os.remove(os.path.join(outdir, f))


if __name__ == "__main__":
    main()
