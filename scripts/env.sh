# Sourced by the set-up, demo and test scripts: a self-contained Scipion under .scipion3/ of this checkout.
# Pyworkflow reads only environment variables when run without the launcher.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SCIPION_ROOT_DIR="${SCIPION_ROOT_DIR:-$ROOT/.scipion3}"
export SCIPION_VENV="$SCIPION_ROOT_DIR/venv"
export SCIPION_HOME="$SCIPION_ROOT_DIR/home"
export SCIPION_USER_DATA="${SCIPION_USER_DATA:-$SCIPION_ROOT_DIR/userdata}"
export SCIPION_PYTHON="$SCIPION_VENV/bin/python"
export SCIPION_DOMAIN=pwem
export SCIPION_TEST_NOSYNC=1
export SCIPION_NOTIFY=False
export MPLBACKEND=Agg
export TF_CPP_MIN_LOG_LEVEL=2
# Scipion's core as a user has it (the set-up's venv and the package test's fresh one)
SCIPION_CORE=("scipion-pyworkflow>=3.11,<4" "scipion-em>=3.11,<4" "scipion-app>=3.8")
# pyworkflow needs a hosts.conf; without a queue system two lines suffice
write_hosts_conf() {
    local hosts="$SCIPION_HOME/config/hosts.conf"
    [ -f "$hosts" ] && return
    mkdir -p "$(dirname "$hosts")"
    printf '[localhost]\nPARALLEL_COMMAND = mpirun -np %%_(JOB_NODES)d %%_(COMMAND)s\n' > "$hosts"
}
