#!/usr/bin/env bash
# Start/stop a private containerd + dockerd pair for tests/daemons (CI and by hand).
#
#   .ci/daemons.sh start   # needs docker.io + containerd installed (.ci/setup); installs nothing
#   .ci/daemons.sh stop    # kills what `start` started, unmounts and removes its state
#   .ci/daemons.sh status
#
# Owns: everything under /run/pyrt-ci and /var/lib/pyrt-ci, logs in /tmp/pyrt-ci-logs.
# Must not touch: the host's own /run/containerd, /var/lib/docker, /etc/docker, networking.
# Docker runs with no bridge, no iptables and no forwarding: containers use --network=none.
# Both runtimes are registered: runc (docker's default) and pyruntime (--runtime pyruntime),
# and ctr selects one with --runc-binary. The tests find the sockets through $PYRT_CI_ENV.
set -euo pipefail

RUN=/run/pyrt-ci
LIB=/var/lib/pyrt-ci
LOGS=/tmp/pyrt-ci-logs
CTRD_SOCK=$RUN/containerd.sock
DOCKER_SOCK=$RUN/docker.sock
NS=pyrt-ci                      # containerd namespace of the ctr tests (docker uses "moby")
IMAGE=pyrt-busybox
START_TIMEOUT=${PYRT_CI_START_TIMEOUT:-60}
# Debian's client matches dockerd 20.10; a different docker earlier in PATH is not wanted here.
DOCKER_BIN=/usr/bin/docker
[ -x "$DOCKER_BIN" ] || DOCKER_BIN=docker

runtime_path() {
  local rt="${PYRUNTIME:-}"
  [ -n "$rt" ] || rt="$("$(dirname "$0")/runtime-path" || true)"
  [ -x "$rt" ] || { echo "daemons.sh: pyruntime not installed (run .ci/setup)" >&2; exit 1; }
  echo "$rt"
}

need() {
  local b
  for b in containerd dockerd ctr docker containerd-shim-runc-v2 runc; do
    command -v "$b" >/dev/null || { echo "daemons.sh: $b missing (apt-get install docker.io containerd)" >&2; exit 1; }
  done
}

wait_for() {  # wait_for WHAT CMD...: retry CMD for START_TIMEOUT seconds
  local what=$1; shift
  local deadline=$((SECONDS + START_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "daemons.sh: $what not ready after ${START_TIMEOUT}s; log follows" >&2
      tail -n 30 "$LOGS/$what.log" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
  need
  local rt; rt=$(runtime_path)
  if alive "$RUN/containerd.pid" || alive "$RUN/dockerd.pid"; then
    echo "daemons.sh: already running (run stop first)" >&2; exit 1
  fi
  mkdir -p "$RUN" "$LIB/containerd" "$LIB/docker" "$LOGS"
  local t0=$SECONDS

  # containerd: own root/state/socket; no CRI (it would want CNI); runc shim v2 only.
  cat >"$RUN/containerd.toml" <<EOF
version = 2
root = "$LIB/containerd"
state = "$RUN/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CTRD_SOCK"
[ttrpc]
  address = "$RUN/containerd.sock.ttrpc"
[debug]
  address = ""
EOF
  setsid containerd --config "$RUN/containerd.toml" >"$LOGS/containerd.log" 2>&1 </dev/null &
  echo $! >"$RUN/containerd.pid"
  wait_for containerd ctr --address "$CTRD_SOCK" version

  # dockerd on top of that containerd (namespace "moby"), with no networking of its own.
  echo '{}' >"$RUN/daemon.json"
  setsid dockerd \
    --config-file "$RUN/daemon.json" \
    --host "unix://$DOCKER_SOCK" \
    --containerd "$CTRD_SOCK" \
    --data-root "$LIB/docker" \
    --exec-root "$RUN/docker" \
    --pidfile "$RUN/dockerd.pid" \
    --storage-driver overlay2 \
    --exec-opt native.cgroupdriver=cgroupfs \
    --iptables=false --ip-forward=false --ip-masq=false --bridge=none --userland-proxy=false \
    --add-runtime "pyruntime=$rt" \
    --log-level warn \
    >"$LOGS/dockerd.log" 2>&1 </dev/null &
  echo $! >"$RUN/dockerd.launcher.pid"
  wait_for dockerd "$DOCKER_BIN" --host "unix://$DOCKER_SOCK" version
  local t1=$SECONDS

  # One busybox image (Debian's busybox-static) for both: docker import, then docker save | ctr import.
  local tmp; tmp=$(mktemp -d /tmp/pyrt-ci-rootfs.XXXXXX)
  python3 -c 'import sys; from pyruntime.bundle import make_rootfs; make_rootfs(sys.argv[1])' "$tmp/rootfs"
  tar -C "$tmp/rootfs" -c . | "$DOCKER_BIN" --host "unix://$DOCKER_SOCK" import - "$IMAGE:latest" >/dev/null
  "$DOCKER_BIN" --host "unix://$DOCKER_SOCK" save "$IMAGE:latest" -o "$tmp/image.tar"
  ctr --address "$CTRD_SOCK" --namespace "$NS" images import "$tmp/image.tar" >/dev/null
  rm -rf "$tmp"

  cat >"$RUN/env" <<EOF
PYRT_CI_DOCKER_HOST=unix://$DOCKER_SOCK
PYRT_CI_CONTAINERD_ADDRESS=$CTRD_SOCK
PYRT_CI_NAMESPACE=$NS
PYRT_CI_IMAGE=$IMAGE:latest
PYRT_CI_CTR_IMAGE=docker.io/library/$IMAGE:latest
PYRT_CI_PYRUNTIME=$rt
PYRT_CI_RUNC=$(command -v runc)
PYRT_CI_CONTAINERD_STATE=$RUN/containerd
PYRT_CI_DOCKER_RUNTIME_ROOT=$RUN/docker/runtime-runc/moby
PYRT_CI_RUNC_ROOT=$RUN/runc
PYRT_CI_LOGS=$LOGS
EOF
  echo "daemons.sh: containerd + dockerd up in $((t1 - t0))s, images in $((SECONDS - t1))s; env in $RUN/env"
}

kill_wait() {  # kill_wait PID: TERM, then KILL after 15 s
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 150); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.2
}

our_shims() {  # pids of containerd-shim-runc-v2 processes serving our containerd socket
  local d cmd
  for d in /proc/[0-9]*; do
    cmd=$( { tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null) || continue
    case "$cmd" in
      *containerd-shim*"-address $CTRD_SOCK "*) echo "${d#/proc/}" ;;
    esac
  done
}

stop() {
  local D=("$DOCKER_BIN" --host "unix://$DOCKER_SOCK") C=(ctr --address "$CTRD_SOCK") pid ids ns id
  if [ -S "$DOCKER_SOCK" ] && timeout 10 "${D[@]}" version >/dev/null 2>&1; then
    ids=$(timeout 10 "${D[@]}" ps -aq 2>/dev/null || true)
    # shellcheck disable=SC2086
    [ -z "$ids" ] || timeout 60 "${D[@]}" rm -f -v $ids >/dev/null 2>&1 || true
  fi
  # whatever is left in any namespace (ctr tests, or tasks dockerd lost track of)
  if [ -S "$CTRD_SOCK" ] && timeout 10 "${C[@]}" version >/dev/null 2>&1; then
    for ns in $(timeout 10 "${C[@]}" namespaces ls -q 2>/dev/null); do
      for id in $(timeout 10 "${C[@]}" -n "$ns" tasks ls -q 2>/dev/null); do
        timeout 10 "${C[@]}" -n "$ns" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
        sleep 0.2
        timeout 10 "${C[@]}" -n "$ns" tasks delete -f "$id" >/dev/null 2>&1 || true
      done
      for id in $(timeout 10 "${C[@]}" -n "$ns" containers ls -q 2>/dev/null); do
        timeout 10 "${C[@]}" -n "$ns" containers delete "$id" >/dev/null 2>&1 || true
      done
    done
  fi
  for f in dockerd.pid dockerd.launcher.pid containerd.pid; do
    [ -f "$RUN/$f" ] && kill_wait "$(cat "$RUN/$f")"
  done
  for pid in $(our_shims); do kill -KILL "$pid" 2>/dev/null || true; done
  # Unmount everything below our dirs, deepest first, before deleting anything:
  # a leftover bind mount would otherwise let rm reach the host's files.
  local m
  for m in $(awk '{print $5}' /proc/self/mountinfo | grep -E "^($RUN|$LIB)(/|$)" | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  if awk '{print $5}' /proc/self/mountinfo | grep -qE "^($RUN|$LIB)(/|$)"; then
    echo "daemons.sh: mounts remain under $RUN or $LIB; not removing them" >&2
    exit 1
  fi
  rm -rf --one-file-system "$RUN" "$LIB"
  echo "daemons.sh: stopped"
}

status() {
  alive "$RUN/containerd.pid" && echo "containerd: running (pid $(cat "$RUN/containerd.pid"))" || echo "containerd: stopped"
  alive "$RUN/dockerd.pid" && echo "dockerd: running (pid $(cat "$RUN/dockerd.pid"))" || echo "dockerd: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
