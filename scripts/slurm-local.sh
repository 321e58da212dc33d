#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for the Slurm integration
# test (test/slurm.test.ts) and for trying `faultline slurm` by hand:
#
#   scripts/slurm-local.sh start DIR   munged + slurmctld + slurmd, all state under DIR;
#                                      prints the line: SLURM_CONF=DIR/slurm.conf
#   SLURM_CONF=DIR/slurm.conf sbatch ...   (or faultline slurm ... --submit)
#   scripts/slurm-local.sh stop DIR    stops the daemons it started (their pid files in DIR)
#
# Debian's slurm-wlm and munge (npm test's pretest installs them: scripts/ensure-system-deps.mjs). Runs as root (slurmd
# starts jobs as their user). Ports: FAULTLINE_SLURMCTLD_PORT and
# FAULTLINE_SLURMD_PORT, else two free ones. Nothing outside DIR is touched:
# a private munge key and socket, no system service. Any failure prints the
# reason (and the daemons' last log lines) and exits 1.
set -euo pipefail

die() { echo "slurm-local: $*" >&2; exit 1; }

cmd=${1:-}; dir=${2:-}
[[ ( $cmd == start || $cmd == stop ) && -n $dir ]] || die "usage: $0 start|stop DIR"
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)

pid_of() { [[ -s $dir/run/$1.pid ]] && cat "$dir/run/$1.pid"; }
alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

stop() {
  # slurmctld and slurmd first (they talk through munge), then munged; only the pids in our files
  if alive "$(pid_of slurmctld || true)"; then
    SLURM_CONF=$dir/slurm.conf timeout 10 scontrol shutdown >/dev/null 2>&1 || true
  fi
  for d in slurmd slurmctld munged; do
    local pid; pid=$(pid_of "$d" || true)
    alive "$pid" || continue
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
}

if [[ $cmd == stop ]]; then stop; exit 0; fi

logs() {
  for f in "$dir"/log/*.log; do [[ -f $f ]] && { echo "--- $f"; tail -n 15 "$f"; }; done >&2
}
fail() { echo "slurm-local: $*" >&2; logs; stop; exit 1; }

[[ $(id -u) == 0 ]] || die "must run as root (slurmd starts jobs as their user; got uid $(id -u))"
for c in munged mungekey slurmctld slurmd sbatch squeue sinfo scontrol; do
  command -v "$c" >/dev/null || die "$c not found: install Debian's slurm-wlm and munge (apt-get install slurm-wlm munge)"
done

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
ctld_port=${FAULTLINE_SLURMCTLD_PORT:-$(free_port)}
d_port=${FAULTLINE_SLURMD_PORT:-$(free_port)}
[[ $ctld_port != "$d_port" ]] || d_port=$(free_port)

node_name=$(hostname -s)
cpus=$(nproc)
# munged refuses a socket directory that not everyone can traverse, and a key others can read
chmod 755 "$dir"
mkdir -p "$dir"/{run,log,state,spool,munge}
chmod 755 "$dir/run" && chmod 700 "$dir/munge"

[[ -f $dir/munge/munge.key ]] || mungekey -c -k "$dir/munge/munge.key" -b 1024 || fail "mungekey could not create a key"
socket=$dir/run/munge.socket
munged -S "$socket" --key-file="$dir/munge/munge.key" --log-file="$dir/log/munged.log" \
  --pid-file="$dir/run/munged.pid" --seed-file="$dir/munge/munged.seed" || fail "munged did not start"
munge -S "$socket" -n | unmunge -S "$socket" >/dev/null || fail "munge cannot encode and decode a credential"

cat > "$dir/slurm.conf" <<EOF
# one-node test cluster written by scripts/slurm-local.sh
ClusterName=faultline-local
SlurmctldHost=$node_name(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
PlugStackConfig=/dev/null
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=$node_name NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$dir/slurm.conf

slurmctld -f "$SLURM_CONF" -i || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" -N "$node_name" || fail "slurmd did not start"

# ready when the node is idle (registered, no jobs), at most 60 s
state=
for _ in $(seq 300); do
  state=$(sinfo -h -n "$node_name" -o %T 2>/dev/null || true)
  [[ $state == idle ]] && break
  sleep 0.2
done
[[ $state == idle ]] || fail "node $node_name not idle after 60 s (state: ${state:-none})"
echo "SLURM_CONF=$SLURM_CONF"
