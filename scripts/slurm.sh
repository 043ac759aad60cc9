#!/usr/bin/env bash
# A single-node SLURM on this machine, for trying and testing the protocol through Scipion's queue.
#
#   scripts/slurm.sh start    install slurm-wlm + munge if missing (as root, with apt-get), write the
#                             configuration, start munged, slurmctld and slurmd, wait for the node idle
#   scripts/slurm.sh stop     stop the daemons THIS script started (by its own pid records), nothing else
#   scripts/slurm.sh status   what runs, and sinfo
#   scripts/slurm.sh env      the variables clients need: eval "$(scripts/slurm.sh env)"
#
# Everything lives under $MC_SLURM_DIR (default .scipion3/slurm of this checkout): etc/slurm.conf,
# munge/ (key, socket), spool/, log/, run/ (pid files). Nothing is written under /etc: the daemons get
# `-f etc/slurm.conf`, clients (sbatch, squeue, scancel, sinfo) read it from $SLURM_CONF, and munge's
# socket is named in the configuration (AuthInfo). The node is the machine itself: NodeName=localhost,
# CPUs = $MC_SLURM_CPUS (default nproc; more than nproc is declared with config_overrides, since a
# protocol with 3 threads asks for 3 CPUs), RealMemory 90% of the available memory, one partition
# ($MC_SLURM_PARTITION, default "scipion"). GPUs: none by default; $MC_SLURM_GPUS=N declares the
# machine's /dev/nvidia0..N-1; $MC_SLURM_FAKE_GPUS=N declares N fake ones, character devices of
# /dev/null's numbers named fake-gpus/nvidiaI (SLURM refuses plain files): SLURM books them and sets
# CUDA_VISIBLE_DEVICES for each job as it would on a GPU node, but nothing can compute on them.
# `start` again with the same settings leaves a running cluster alone; other settings restart it.
#
# Exit status (one line on stderr says why):
#   0 done / running    1 status: not running    2 usage
#   10 not root (cannot install or start daemons)    11 SLURM/munge missing and cannot be installed
#   12 munged did not start    13 slurmctld did not start    14 slurmd did not start or node not idle
#   15 a port SLURM needs (6817, 6818) is taken by another SLURM or program
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${MC_SLURM_DIR:-$ROOT/.scipion3/slurm}"
PARTITION="${MC_SLURM_PARTITION:-scipion}"
CTLD_PORT="${MC_SLURM_CTLD_PORT:-6817}"
SLURMD_PORT="${MC_SLURM_SLURMD_PORT:-6818}"
CONF="$DIR/etc/slurm.conf"
SOCKET="$DIR/munge/munge.socket"
STARTED="$DIR/run/started"  # "name pid" of each daemon this script started
WAIT="${MC_SLURM_WAIT:-60}"  # seconds to wait for each daemon / the node

say() { echo "slurm.sh: $*" >&2; }
STARTED_NOW=""  # daemons this invocation started: stopped again when starting fails half-way
die() {
    local code=$1 name; shift
    say "$*"
    for name in $STARTED_NOW; do stopOne "$name" 2>/dev/null; done
    exit "$code"
}

# ------------------------------------------------------------------ what runs
pidOf() {  # the pid this script recorded for a daemon, if that process still runs the same program
    local name=$1 pid
    pid=$(awk -v n="$name" '$1 == n {print $2}' "$STARTED" 2>/dev/null | tail -1)
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    # the same process (not a recycled pid): its command names this script's state folder
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$DIR" || return 1
    echo "$pid"
}

record() {  # name pidfile: records the pid a daemon wrote in its pid file
    local name=$1 pidfile=$2 pid
    pid=$(cat "$pidfile" 2>/dev/null)
    [ -n "$pid" ] || return 1
    mkdir -p "$(dirname "$STARTED")"
    { grep -v "^$name " "$STARTED" 2>/dev/null; echo "$name $pid"; } > "$STARTED.new" && mv "$STARTED.new" "$STARTED"
}

waitFor() {  # seconds command...: true once the command succeeds
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.5
    done
}

noJobs() { [ -z "$(squeue -h -o %i 2>/dev/null)" ]; }
nodeIdle() { sinfo -h -n localhost -o '%T' 2>/dev/null | grep -qx 'idle'; }
nodeState() { sinfo -h -n localhost -o '%T %E' 2>/dev/null | head -1; }

# ------------------------------------------------------------------ install
install() {
    local missing=()
    for program in munged mungekey slurmctld slurmd sbatch; do
        command -v "$program" >/dev/null 2>&1 || missing+=("$program")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die 10 "cannot install SLURM: ${missing[*]} missing and not running as root"
    command -v apt-get >/dev/null 2>&1 || die 11 "cannot install SLURM: ${missing[*]} missing and no apt-get"
    say "installing slurm-wlm and munge with apt-get (${missing[*]} missing)"
    # Debian's policy-rc.d (containers) keeps apt from starting the packages' own services
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm munge \
            > "$DIR/log/apt-get.log" 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get update > /dev/null 2>&1
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm munge \
            > "$DIR/log/apt-get.log" 2>&1 \
            || die 11 "cannot install SLURM: apt-get install slurm-wlm munge failed ($(tail -1 "$DIR/log/apt-get.log"))"
    fi
}

# ------------------------------------------------------------------ configuration
cpus() { echo "${MC_SLURM_CPUS:-$(nproc)}"; }

gpus() {  # GPUs to declare: real ones (SLURM binds each to a /dev/nvidiaN file), or fake ones
    local wanted=${MC_SLURM_GPUS:-0} found
    if [ "${MC_SLURM_FAKE_GPUS:-0}" -gt 0 ]; then
        echo "$MC_SLURM_FAKE_GPUS"
        return
    fi
    found=$(ls /dev/nvidia[0-9]* 2>/dev/null | wc -l)
    if [ "$wanted" -gt "$found" ]; then
        say "MC_SLURM_GPUS=$wanted but $found /dev/nvidiaN devices: declaring $found GPUs"
        wanted=$found
    fi
    echo "$wanted"
}

gpuFile() {  # the file SLURM binds GPU $1 to: the device, or for fake GPUs a device node named like one
    if [ "${MC_SLURM_FAKE_GPUS:-0}" -gt 0 ]; then
        # SLURM wants a character device: a node of /dev/null's (1:3), named like an NVIDIA GPU
        mkdir -p "$DIR/fake-gpus"
        [ -c "$DIR/fake-gpus/nvidia$1" ] || { rm -f "$DIR/fake-gpus/nvidia$1"; mknod "$DIR/fake-gpus/nvidia$1" c 1 3; }
        echo "$DIR/fake-gpus/nvidia$1"
    else
        echo "/dev/nvidia$1"
    fi
}

writeConfig() {
    local cpus gpus memory settings overrides="" gres=""
    cpus=$(cpus)
    gpus=$(gpus)
    settings="cpus=$cpus gpus=$gpus fake=${MC_SLURM_FAKE_GPUS:-0} partition=$PARTITION ports=$CTLD_PORT,$SLURMD_PORT dir=$DIR"
    if [ -f "$CONF" ] && grep -qxF "# settings: $settings" "$CONF"; then
        return 1  # the same cluster (the memory figure is not compared: it moves)
    fi
    memory=$(awk '/^MemAvailable:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
    if [ "$cpus" -gt "$(nproc)" ]; then
        overrides="SlurmdParameters=config_overrides  # $cpus CPUs declared on a $(nproc)-CPU machine"
    fi
    mkdir -p "$DIR/etc" "$DIR/spool/slurmctld" "$DIR/spool/slurmd" "$DIR/log" "$DIR/run"
    if [ "$gpus" -gt 0 ]; then
        gres="Gres=gpu:$gpus"
        : > "$DIR/etc/gres.conf"
        for ((i = 0; i < gpus; i++)); do echo "NodeName=localhost Name=gpu File=$(gpuFile $i)" >> "$DIR/etc/gres.conf"; done
    else
        rm -f "$DIR/etc/gres.conf"
    fi
    cat > "$CONF.new" <<EOF
# Written by scripts/slurm.sh: a single-node cluster, the machine itself (NodeName=localhost).
# settings: $settings
ClusterName=micrographcleaner
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
StateSaveLocation=$DIR/spool/slurmctld
SlurmdSpoolDir=$DIR/spool/slurmd
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
PlugStackConfig=$DIR/etc/plugstack.conf
${gres:+GresTypes=gpu}
$overrides
# no accounting (sacct is disabled); squeue -h -j ID prints nothing once job ID has ended (what Scipion checks)
KillWait=10
NodeName=localhost NodeHostname=$(hostname -s) NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory $gres State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
    : > "$DIR/etc/plugstack.conf"
    mv "$CONF.new" "$CONF"
    return 0
}

# ------------------------------------------------------------------ daemons
startMunge() {
    pidOf munged >/dev/null && return 0
    mkdir -p "$DIR/munge"
    if [ ! -s "$DIR/munge/munge.key" ]; then
        mungekey --create --keyfile="$DIR/munge/munge.key" || die 12 "munged cannot start: mungekey failed"
    fi
    chown -R munge:munge "$DIR/munge"
    chmod 755 "$DIR/munge"  # clients reach the socket; the key itself is 0400
    chmod 400 "$DIR/munge/munge.key"
    rm -f "$DIR/munge/munged.pid"
    runuser -u munge -- /usr/sbin/munged --socket="$SOCKET" --key-file="$DIR/munge/munge.key" \
        --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed" \
        > "$DIR/log/munged.out" 2>&1 || die 12 "munged did not start: $(tail -1 "$DIR/log/munged.out")"
    waitFor "$WAIT" test -s "$DIR/munge/munged.pid" || die 12 "munged did not start (no pid file; see $DIR/munge/munged.log)"
    record munged "$DIR/munge/munged.pid"
    STARTED_NOW="munged $STARTED_NOW"
}

portBusy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

startDaemon() {  # name code
    local name=$1 code=$2 port
    pidOf "$name" >/dev/null && return 0
    port=$([ "$name" = slurmctld ] && echo "$CTLD_PORT" || echo "$SLURMD_PORT")
    portBusy "$port" && die 15 "$name cannot start: port $port is taken (another SLURM or program; choose another with MC_SLURM_CTLD_PORT / MC_SLURM_SLURMD_PORT)"
    rm -f "$DIR/run/$name.pid"
    local args=(-f "$CONF")
    [ "$name" = slurmd ] && args+=(-N localhost)
    SLURM_CONF="$CONF" "/usr/sbin/$name" "${args[@]}" > "$DIR/log/$name.out" 2>&1 \
        || die "$code" "$name did not start: $(tail -1 "$DIR/log/$name.out") (log: $DIR/log/$name.log)"
    waitFor "$WAIT" test -s "$DIR/run/$name.pid" \
        || die "$code" "$name did not start: $(tail -1 "$DIR/log/$name.log" 2>/dev/null) (log: $DIR/log/$name.log)"
    record "$name" "$DIR/run/$name.pid"
    STARTED_NOW="$name $STARTED_NOW"
    pidOf "$name" >/dev/null || die "$code" "$name died at start: $(grep -i error "$DIR/log/$name.log" | tail -1)"
}

stopOne() {
    local name=$1 pid
    pid=$(pidOf "$name") || { sed -i "/^$name /d" "$STARTED" 2>/dev/null; return 0; }
    kill -TERM "$pid" 2>/dev/null
    if ! waitFor 20 bash -c "! kill -0 $pid"; then
        say "$name ($pid) did not stop on SIGTERM: SIGKILL"
        kill -KILL "$pid" 2>/dev/null
    fi
    sed -i "/^$name /d" "$STARTED"
    say "stopped $name ($pid)"
}

# ------------------------------------------------------------------ commands
start() {
    [ "$(id -u)" -eq 0 ] || die 10 "cannot start SLURM: not running as root (slurmd must run as root)"
    mkdir -p "$DIR/log" "$DIR/run"
    install
    export SLURM_CONF="$CONF"
    if { pidOf slurmctld >/dev/null || pidOf slurmd >/dev/null; } && [ -f "$CONF" ] \
            && [ -z "${MC_SLURM_CPUS:-}${MC_SLURM_GPUS:-}${MC_SLURM_FAKE_GPUS:-}${MC_SLURM_PARTITION:-}" ]; then
        :  # running, and nothing asked of it: keep its configuration
    elif writeConfig && { pidOf slurmctld >/dev/null || pidOf slurmd >/dev/null; }; then
        say "configuration changed: restarting the SLURM daemons this script started"
        stopOne slurmd
        stopOne slurmctld
    fi
    startMunge
    startDaemon slurmctld 13
    waitFor "$WAIT" scontrol ping || die 13 "slurmctld does not answer: $(tail -1 "$DIR/log/slurmctld.log")"
    startDaemon slurmd 14
    if ! waitFor "$WAIT" nodeIdle; then
        # a node left down by an earlier run comes back with an explicit resume
        scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1
        waitFor 10 nodeIdle || die 14 "the node did not become idle: $(nodeState) (log: $DIR/log/slurmd.log)"
    fi
    say "running: $(sinfo -h -o 'partition %R, %c CPUs, %m MB, GPUs: %G' | head -1 | sed 's/(null)/none/'); export SLURM_CONF=$CONF"
}

stop() {
    if ! { pidOf munged || pidOf slurmctld || pidOf slurmd; } >/dev/null; then
        say "nothing to stop: no daemon this script started is running"
        return 0
    fi
    if pidOf slurmctld >/dev/null; then  # the jobs of this cluster end first: none is left running
        export SLURM_CONF="$CONF"
        local jobs
        jobs=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')
        if [ -n "${jobs// /}" ]; then
            say "cancelling the cluster's jobs: $jobs"
            scancel $jobs
            waitFor 30 noJobs || say "jobs still listed: $(squeue -h -o '%i %T' | tr '\n' ' ')"
        fi
    fi
    stopOne slurmd
    stopOne slurmctld
    stopOne munged
}

status() {
    local up=0
    for name in munged slurmctld slurmd; do
        if pid=$(pidOf "$name"); then echo "$name: running ($pid)"; else echo "$name: not running"; up=1; fi
    done
    if [ $up -eq 0 ]; then
        SLURM_CONF="$CONF" sinfo
    fi
    return $up
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
