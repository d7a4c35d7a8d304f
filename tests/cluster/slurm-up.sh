#!/usr/bin/env bash
# Bring up a throw-away one-node SLURM cluster on this machine for tests/cluster/.
#
#   tests/cluster/slurm-up.sh      install (apt) + start munged, mariadbd, slurmdbd, slurmctld, slurmd
#   tests/cluster/slurm-down.sh    stop exactly those daemons and remove the state directory
#
# Everything this script creates (configs, spool, database, logs, pid files, munge socket) lives
# under $NEUSDF_SLURM_DIR (default /tmp/neusdf-slurm), plus ONE symlink, /etc/slurm/slurm.conf ->
# $NEUSDF_SLURM_DIR/etc/slurm.conf: inside a job the Snakemake plugin runs `srun` with every SLURM_*
# variable removed (SLURM_CONF included), so srun must find the configuration at SLURM's default
# path. The script refuses to start if another slurm.conf is there; slurm-down.sh removes the link.
# Clients may also use SLURM_CONF: `source $NEUSDF_SLURM_DIR/env.sh`.
# The node has this machine's cores and memory, one fake GPU (a GRES with no device file, so that
# `--gpus=1` requests are scheduled exactly as on a GPU cluster), no cgroups
# (proctrack/linuxproc, task/none). Accounting goes through slurmdbd + MariaDB so that `sacct`
# works, which the Snakemake SLURM plugin uses for job status.
set -euo pipefail

S="${NEUSDF_SLURM_DIR:-/tmp/neusdf-slurm}"
CLUSTER=neusdf
# Non-default ports so that a SLURM or MySQL already on the machine is left alone.
CTLD_PORT="${NEUSDF_SLURM_CTLD_PORT:-16817}"
SLURMD_PORT="${NEUSDF_SLURM_SLURMD_PORT:-16818}"
DBD_PORT="${NEUSDF_SLURM_DBD_PORT:-16819}"
DB_PORT="${NEUSDF_SLURM_DB_PORT:-13306}"
NODE="$(hostname -s)"

log() { echo "slurm-up: $*" >&2; }
die() {
  log "FAILED: $*"
  for f in "$S"/log/*.log; do
    [ -f "$f" ] && { echo "---- $f (last 20 lines)" >&2; tail -n 20 "$f" >&2; }
  done
  exit 1
}

if [ -e "$S/env.sh" ]; then
  die "$S already exists: run tests/cluster/slurm-down.sh first"
fi
ETC_CONF=/etc/slurm/slurm.conf
if [ -e "$ETC_CONF" ] || [ -L "$ETC_CONF" ]; then
  if [ "$(readlink "$ETC_CONF" || true)" != "$S/etc/slurm.conf" ]; then
    die "$ETC_CONF exists (another SLURM configuration); not touching it"
  fi
fi

# 1. Packages (Debian's). Services are not started by apt here; we start our own below.
need=()
for cmd in munged slurmctld slurmd slurmdbd sinfo sacct mariadbd mariadb-install-db; do
  command -v "$cmd" >/dev/null 2>&1 || need+=("$cmd")
done
if [ "${#need[@]}" -gt 0 ]; then
  log "installing slurm-wlm, slurmdbd, munge, mariadb-server (missing: ${need[*]})"
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install SLURM and munge by hand"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends \
    slurm-wlm slurmdbd slurm-client munge mariadb-server mariadb-client >/dev/null \
    || die "apt-get install failed"
fi

mkdir -p "$S"/{etc,run,log,state,spool,munge,mysql,tmp}
chmod 755 "$S/munge"
export SLURM_CONF="$S/etc/slurm.conf"

# 2. munge: own key, own socket.
dd if=/dev/urandom of="$S/etc/munge.key" bs=1024 count=1 status=none
chmod 400 "$S/etc/munge.key"
MUNGE_SOCKET="$S/munge/munge.socket"
munged --force --key-file="$S/etc/munge.key" --socket="$MUNGE_SOCKET" \
  --pid-file="$S/run/munged.pid" --log-file="$S/log/munged.log" \
  --seed-file="$S/munge/munge.seed" || die "munged did not start"

# 3. MariaDB for slurmdbd: own data directory, TCP on 127.0.0.1 only.
mariadb-install-db --no-defaults --datadir="$S/mysql" --user=root \
  --auth-root-authentication-method=normal --skip-test-db >"$S/log/mariadb-install.log" 2>&1 \
  || die "mariadb-install-db failed (see $S/log/mariadb-install.log)"
mariadbd --no-defaults --user=root --datadir="$S/mysql" --socket="$S/run/mysqld.sock" \
  --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
  --pid-file="$S/run/mariadbd.pid" --log-error="$S/log/mariadbd.log" \
  --innodb-buffer-pool-size=128M --innodb-lock-wait-timeout=900 --max-connections=50 \
  >/dev/null 2>&1 &
for _ in $(seq 60); do
  mariadb --no-defaults --socket="$S/run/mysqld.sock" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
  sleep 1
done
mariadb --no-defaults --socket="$S/run/mysqld.sock" -uroot -e "
  CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'neusdf';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || die "MariaDB did not come up"

# 4. Configuration.
CPUS="$(nproc)"
MEM_MB="$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)"
REAL_MB=$((MEM_MB - 1024)) # leave 1 GiB to the OS and the daemons

cat >"$S/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$S/run/slurmdbd.pid
LogFile=$S/log/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=neusdf
StorageLoc=slurm_acct_db
EOF
chmod 600 "$S/etc/slurmdbd.conf"

cat >"$S/etc/slurm.conf" <<EOF
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/run/slurmctld.pid
SlurmdPidFile=$S/run/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
TmpFS=$S/tmp
PlugStackConfig=$S/etc/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
# with slurmdbd + munge, this names the munge socket used to talk to slurmdbd
AccountingStoragePass=$MUNGE_SOCKET
AccountingStorageTRES=gres/gpu
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
MpiDefault=none
ReturnToService=2
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=10
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$REAL_MB Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
# One "GPU" without a device file: the scheduler counts it, nothing is bound.
echo "NodeName=$NODE Name=gpu File=/dev/null" >"$S/etc/gres.conf"
: >"$S/etc/plugstack.conf"

mkdir -p "$(dirname "$ETC_CONF")"
ln -sfn "$S/etc/slurm.conf" "$ETC_CONF"
echo "$ETC_CONF" >"$S/created-links"

cat >"$S/env.sh" <<EOF
# source this file to talk to the neusdf test cluster
export SLURM_CONF=$S/etc/slurm.conf
EOF

# 5. Daemons: slurmdbd, then slurmctld, then slurmd.
slurmdbd || die "slurmdbd did not start"
for _ in $(seq 60); do
  timeout 10 sacctmgr -n -i list cluster >/dev/null 2>&1 && break
  sleep 1
done
timeout 20 sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true
slurmctld -i || die "slurmctld did not start"
slurmd || die "slurmd did not start"

# An account for the calling user, so that submissions (and the plugin's account check) work.
for _ in $(seq 30); do
  timeout 10 sacctmgr -n list cluster format=cluster 2>/dev/null | grep -qw "$CLUSTER" && break
  sleep 1
done
timeout 20 sacctmgr -i add account neusdf Cluster="$CLUSTER" Description=tests Organization=neusdf \
  >/dev/null 2>&1 || true
timeout 20 sacctmgr -i add user "$(id -un)" Account=neusdf Cluster="$CLUSTER" >/dev/null 2>&1 || true

# 6. Wait until the node is idle.
for _ in $(seq 90); do
  state="$(sinfo -h -n "$NODE" -o '%T' 2>/dev/null || true)"
  if [ "$state" = "idle" ]; then
    log "cluster '$CLUSTER' up: node $NODE idle ($CPUS CPUs, $REAL_MB MB, gpu:1); state in $S"
    log "use it with: source $S/env.sh"
    exit 0
  fi
  sleep 1
done
die "node $NODE did not become idle (state: '${state:-none}')"
