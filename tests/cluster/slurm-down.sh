#!/usr/bin/env bash
# Stop the test cluster started by tests/cluster/slurm-up.sh: exactly the daemons whose pid files
# it wrote under $NEUSDF_SLURM_DIR (default /tmp/neusdf-slurm), then remove that directory and
# the /etc/slurm/slurm.conf symlink into it.
# Safe to run when nothing is up.
set -euo pipefail

S="${NEUSDF_SLURM_DIR:-/tmp/neusdf-slurm}"

if [ ! -d "$S" ]; then
  echo "slurm-down: nothing to do ($S does not exist)" >&2
  exit 0
fi
export SLURM_CONF="$S/etc/slurm.conf"

# Running jobs first, so that slurmd has nothing left to clean up.
if [ -f "$S/run/slurmctld.pid" ] && command -v scancel >/dev/null 2>&1; then
  timeout 10 scancel --user="$(id -un)" >/dev/null 2>&1 || true
fi

stop() { # stop NAME: TERM the pid in $S/run/NAME.pid if it is that program, wait, then KILL
  local name="$1" pidfile="$S/run/$1.pid" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if [ -n "$pid" ] && [ -d "/proc/$pid" ] && grep -q "$name" "/proc/$pid/comm" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 30); do
      [ -d "/proc/$pid" ] || break
      sleep 0.5
    done
    if [ -d "/proc/$pid" ]; then
      echo "slurm-down: $name ($pid) did not stop, killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

# Reverse order of start-up.
stop slurmd
stop slurmctld
stop slurmdbd
stop mariadbd
stop munged

# The one file outside $S that slurm-up.sh made: the /etc/slurm/slurm.conf symlink into $S.
if [ -f "$S/created-links" ]; then
  while read -r link; do
    if [ -L "$link" ] && [ "$(readlink "$link")" = "$S/etc/slurm.conf" ]; then
      rm -f "$link"
    fi
  done <"$S/created-links"
fi

rm -rf "$S"
echo "slurm-down: stopped and removed $S" >&2
