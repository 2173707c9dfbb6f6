#!/usr/bin/env bash
# The Debian package, end to end (issue 11): cpack builds bluegreen_*.deb from this build;
# dpkg installs it into a scratch root (never into the machine's own /); then
#  - every command `bluegreen --help` lists has its man page, `man bluegreen-deploy` shows
#    the text of `bluegreen help deploy` (MANPATH into the scratch root);
#  - the bash completion loads and completes commands and a command's options; the zsh one
#    parses and registers with compinit;
#  - `systemd-analyze verify` passes on the installed unit (offline: no running systemd);
#  - the installed /etc/bluegreen/bluegreen.yaml passes check-config, and the installed
#    binary serves it with systemd semantics: NOTIFY_SOCKET on a datagram socket owned by
#    this script, READY=1, the installed sample-app answers through the load balancer,
#    `shutdown --stop-targets` brings STOPPING=1;
#  - `dpkg --purge` leaves no file of the package behind.
# Needs BG_BUILD_DIR, cpack, dpkg, man, systemd-analyze, python3, zsh, curl; runs as root
# (dpkg --root) or with dpkg's --force-not-root.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$(cd "${BG_BUILD_DIR:?BG_BUILD_DIR must name the build directory}" && pwd)
scratch=$(mktemp -d /tmp/bg-package.XXXXXX)
cleanup() {
  if [ -z "${KEEP_PACKAGE_DIR:-}" ]; then rm -rf "$scratch"; else echo "kept $scratch"; fi
}
trap cleanup EXIT
fail() { echo "package: $*" >&2; exit 1; }
step() { echo "package: $*"; }

# 1. Build the package.
step "cpack"
cpack --config "$build/CPackConfig.cmake" -B "$scratch/pkg" >"$scratch/cpack.log" 2>&1 ||
  { cat "$scratch/cpack.log" >&2; fail "cpack failed"; }
deb=$(ls "$scratch"/pkg/bluegreen_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || fail "no bluegreen_*.deb in $scratch/pkg"
dpkg-deb -f "$deb" Package | grep -qx bluegreen || fail "package name"
dpkg-deb -f "$deb" Depends | grep -q libuv1 || fail "Depends lacks libuv1: $(dpkg-deb -f "$deb" Depends)"
dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles | grep -qx /etc/bluegreen/bluegreen.yaml ||
  fail "/etc/bluegreen/bluegreen.yaml is not a conffile"

# 2. Install into a scratch root.
root=$scratch/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
dpkg_opts=(--root="$root" --force-depends --path-include='/usr/share/man/*'
           --path-include='/usr/share/doc/*')
[ "$(id -u)" -eq 0 ] || dpkg_opts+=(--force-not-root)
step "dpkg -i into $root"
dpkg "${dpkg_opts[@]}" -i "$deb" >"$scratch/dpkg-install.log" 2>&1 ||
  { cat "$scratch/dpkg-install.log" >&2; fail "dpkg -i failed"; }
dpkg --root="$root" -s bluegreen | grep -qx 'Status: install ok installed' || fail "not installed"
# Its shared-library dependencies are the ones this machine has (the scratch root has none).
for dep in $(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/[ (].*//;s/^ *//' | grep .); do
  dpkg -s "$dep" >/dev/null 2>&1 || fail "dependency $dep is not a Debian package on this machine"
done
bin=$root/usr/bin/bluegreen
"$bin" --version | grep -q "^bluegreen " || fail "installed binary does not run"
for f in usr/libexec/bluegreen/sample-app usr/lib/systemd/system/bluegreen.service \
         etc/bluegreen/bluegreen.yaml usr/share/bash-completion/completions/bluegreen \
         usr/share/zsh/vendor-completions/_bluegreen usr/share/doc/bluegreen/design.md; do
  [ -f "$root/$f" ] || fail "/$f not installed"
done

# 3. Man pages: one per command, same text as --help.
step "man pages"
export MANPATH=$root/usr/share/man
cmds=$("$bin" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')
[ "$(wc -w <<<"$cmds")" -ge 10 ] || fail "too few commands in --help: $cmds"
for c in $cmds; do
  [ -f "$root/usr/share/man/man1/bluegreen-$c.1" ] || fail "no man page bluegreen-$c(1)"
done
page=$(MANWIDTH=200 man -P cat bluegreen-deploy 2>&1) || fail "man bluegreen-deploy: $page"
summary=$("$bin" --help | sed -n 's/^  deploy  *//p')
grep -qF "bluegreen-deploy - $summary" <<<"$page" || fail "NAME of bluegreen-deploy(1) is not '$summary'"
# The description's first words (the page is justified and rewrapped: compare squeezed).
first=$("$bin" help deploy | awk 'd && NF {print; exit} /^$/ && s {d=1} /^[a-z].*\.$/ {s=1}' |
        cut -c1-40 | tr -s ' ')
[ -n "$first" ] && tr -s ' ' <<<"$page" | grep -qF "$first" ||
  fail "bluegreen-deploy(1) lacks the help text '$first'"
man -P cat bluegreen >/dev/null 2>&1 || fail "man bluegreen"

# 4. Completions.
step "completions"
out=$(PATH=$root/usr/bin:$PATH bash -c '
  source "$1"
  complete -p bluegreen
  COMP_WORDS=(bluegreen roll); COMP_CWORD=1; _bluegreen; echo "cmds: ${COMPREPLY[*]}"
  COMP_WORDS=(bluegreen deploy orders --str); COMP_CWORD=3; _bluegreen; echo "opts: ${COMPREPLY[*]}"
  COMP_WORDS=(bluegreen help che); COMP_CWORD=2; _bluegreen; echo "help: ${COMPREPLY[*]}"
' _ "$root/usr/share/bash-completion/completions/bluegreen" 2>&1) || fail "bash completion: $out"
grep -qx 'complete -F _bluegreen bluegreen' <<<"$out" || fail "bash completion not registered: $out"
grep -qx 'cmds: rollback' <<<"$out" || fail "bash completion of 'roll': $out"
grep -qx 'opts: --strategy' <<<"$out" || fail "bash completion of 'deploy orders --str': $out"
grep -qx 'help: check-config' <<<"$out" || fail "bash completion of 'help che': $out"
zsh -n "$root/usr/share/zsh/vendor-completions/_bluegreen" || fail "zsh completion does not parse"
out=$(HOME=$scratch zsh -fc 'fpath=("$1" $fpath); autoload -Uz compinit; compinit -u -D
  print -r -- "${_comps[bluegreen]}"' _ "$root/usr/share/zsh/vendor-completions" 2>&1)
[ "$out" = _bluegreen ] || fail "zsh compinit did not register _bluegreen: $out"

# 5. The unit, offline.
step "systemd-analyze verify"
mkdir -p "$root/lib/systemd"
cp -a /usr/lib/systemd/system "$root/lib/systemd/" # the targets the unit orders against
out=$(systemd-analyze --root="$root" verify /usr/lib/systemd/system/bluegreen.service 2>&1) ||
  fail "systemd-analyze verify failed: $out"
[ -z "$out" ] || fail "systemd-analyze verify complained: $out"
rm -rf "$root/lib/systemd"
grep -qx 'Type=notify' "$root/usr/lib/systemd/system/bluegreen.service" || fail "unit is not Type=notify"

# 6. The shipped config, served by the installed binaries with systemd semantics.
step "serve the installed config under NOTIFY_SOCKET"
cfg=$root/etc/bluegreen/bluegreen.yaml
"$bin" -c "$cfg" check-config >/dev/null || fail "installed config fails check-config"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -e "s#127.0.0.1:8080#127.0.0.1:$port#" -e "s#/var/lib/bluegreen#$scratch/state#g" \
    -e "s#/usr/libexec/bluegreen/#$root/usr/libexec/bluegreen/#" "$cfg" >"$scratch/bluegreen.yaml"
grep -q "$root/usr/libexec/bluegreen/sample-app" "$scratch/bluegreen.yaml" ||
  fail "installed config does not run /usr/libexec/bluegreen/sample-app"
python3 - "$bin" "$scratch" "$port" <<'EOF' || fail "serve under NOTIFY_SOCKET (log: $scratch/serve.log)"
import os, socket, subprocess, sys, time, urllib.request
bin, scratch, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
path = os.path.join(scratch, "notify.sock")
sock.bind(path)
env = dict(os.environ, NOTIFY_SOCKET=path, ASAN_OPTIONS="detect_leaks=0")
log = open(os.path.join(scratch, "serve.log"), "w")
serve = subprocess.Popen([bin, "-c", os.path.join(scratch, "bluegreen.yaml"), "serve"],
                         env=env, stdout=log, stderr=log)
admin = "unix:" + os.path.join(scratch, "state", "bluegreen.sock")
def state(timeout):
    sock.settimeout(timeout)
    return sock.recv(4096).decode()
try:
    ready = state(30)
    assert ready.startswith("READY=1"), ready
    # Traffic reaches the installed sample-app once it is healthy (deadline 30 s).
    deadline, body = time.time() + 30, ""
    while time.time() < deadline:
        try:
            req = urllib.request.Request("http://127.0.0.1:%d/" % port, headers={"Host": "hello.local"})
            body = urllib.request.urlopen(req, timeout=2).read().decode()
            if '"service":"hello"' in body.replace(" ", ""):
                break
        except Exception as e:
            body = str(e)
        time.sleep(0.1)
    else:
        raise AssertionError("hello never answered through the load balancer: " + body)
    subprocess.run([bin, "--admin", admin, "shutdown", "--stop-targets"], check=True,
                   stdout=subprocess.DEVNULL, env=env, timeout=60)
    stopping = state(30)
    assert stopping == "STOPPING=1", stopping
    assert serve.wait(timeout=30) == 0, "serve exit status %s" % serve.returncode
finally:
    if serve.poll() is None:  # a check failed: stop the sample-apps too, then serve
        subprocess.run([bin, "--admin", admin, "shutdown", "--stop-targets"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        serve.terminate()
        serve.wait(timeout=30)
EOF

# 7. Remove and purge: nothing of the package is left.
step "dpkg -r, dpkg --purge"
dpkg "${dpkg_opts[@]}" -r bluegreen >"$scratch/dpkg-remove.log" 2>&1 ||
  { cat "$scratch/dpkg-remove.log" >&2; fail "dpkg -r failed"; }
[ ! -e "$bin" ] || fail "/usr/bin/bluegreen left after dpkg -r"
[ -f "$cfg" ] || fail "dpkg -r removed the conffile (only --purge may)"
dpkg "${dpkg_opts[@]}" --purge bluegreen >>"$scratch/dpkg-remove.log" 2>&1 ||
  { cat "$scratch/dpkg-remove.log" >&2; fail "dpkg --purge failed"; }
left=$(cd "$root" && find . ! -type d ! -path './var/lib/dpkg/*' | sort)
[ -z "$left" ] || fail "files left after purge: $left"
if dpkg --root="$root" -s bluegreen >/dev/null 2>&1; then fail "still known to dpkg after purge"; fi
echo "package: ok ($(basename "$deb"), $(wc -w <<<"$cmds") commands)"
