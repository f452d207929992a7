#!/usr/bin/env bash
# Run tether's whole test suite on a fresh Debian machine, as root:
#   1. install what the tests need (Debian's docker.io, debootstrap, venv, and
#      zsh, fish and jq for the completion and README-snippet tests, nodejs and
#      npm for an MCP server from npm, busybox-static for a sandbox image without
#      bash or coreutils, openssh-server for DOCKER_HOST=ssh://, podman and
#      catatonit for podman's Docker API, tmux for the terminal tests);
#   2. start dockerd unless an engine already answers;
#   3. install tether with its test extras into .venv;
#   4. build the offline test image (Debian minbase with git) unless it exists;
#   5. lint (ruff), type-check (mypy), and run pytest: four workers (most tests wait
#      on Docker and subprocesses, not the CPU), one file per worker so a module's
#      shared sandbox or session is made once. TETHER_TEST_WORKERS=0 runs them in one
#      process. A test that hangs fails after 10 minutes (pytest-timeout) with its
#      stack. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v zsh >/dev/null || missing+=(zsh)
command -v fish >/dev/null || missing+=(fish)
command -v jq >/dev/null || missing+=(jq)  # the README's CI snippet uses it
command -v node >/dev/null || missing+=(nodejs)  # runs @modelcontextprotocol/server-everything
command -v npm >/dev/null || missing+=(npm)
[[ -x /bin/busybox ]] || missing+=(busybox-static)  # a sandbox image of busybox alone
[[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)  # tests start their own sshd, on loopback
command -v podman >/dev/null || missing+=(podman)
[[ -x /usr/libexec/podman/catatonit ]] || missing+=(catatonit)  # podman's --init
command -v faketime >/dev/null || missing+=(faketime)  # libfaketime steps a run's clock
command -v tmux >/dev/null || missing+=(tmux)  # the terminal tests read what a person sees
command -v script >/dev/null || missing+=(bsdutils)  # ... and what a terminal gets, raw
if ((${#missing[@]})); then
  echo "installing ${missing[*]}..." >&2
  # Installing must not start services (openssh-server would start a system sshd):
  # invoke-rc.d and deb-systemd-invoke obey policy-rc.d, if none is there already.
  policy=/usr/sbin/policy-rc.d
  [[ -e $policy ]] || { printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy && made_policy=1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  [[ -z ${made_policy:-} ]] || rm -f $policy
fi

engine_answers() { timeout 5 docker version >/dev/null 2>&1; }
if ! engine_answers; then
  # A dockerd killed earlier leaves its pid file behind, and a new daemon
  # refuses to start while that file names a pid, so drop it if nobody lives there.
  for pidfile in /var/run/docker.pid /run/docker.pid /var/run/docker/containerd/containerd.pid; do
    if [[ -f $pidfile ]] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      rm -f "$pidfile"
    fi
  done
  echo "starting dockerd..." >&2
  nohup dockerd >/var/log/tether-dockerd.log 2>&1 &
  for _ in $(seq 60); do engine_answers && break; sleep 0.5; done
  engine_answers || { echo "dockerd did not start; see /var/log/tether-dockerd.log" >&2; exit 1; }
fi

# The MCP servers the tests talk to: server-everything from npm here (over stdio and
# streamable HTTP), mcp-server-time from PyPI with the test extras below.
everything=.mcp-npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js
if [[ ! -f $everything ]]; then
  npm install --silent --no-audit --no-fund --prefix .mcp-npm \
    @modelcontextprotocol/server-everything@2026.8.31
fi

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

# The test image's name and packages are in tests/e2e.py (a new tag when they change).
image=$(.venv/bin/python -c 'import sys; sys.path[:0] = ["tests"]; import e2e
print(e2e.TEST_IMAGE, e2e.TEST_IMAGE_PACKAGES)')
bash tests/build-image.sh $image
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy core cli
exec .venv/bin/python -m pytest -n "${TETHER_TEST_WORKERS:-4}" --dist loadfile --durations=15 "$@"
