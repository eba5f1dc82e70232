#!/usr/bin/env bash
# Workers sharing one Optuna study on a real PostgreSQL server. Installs Debian's postgresql
# package and the driver (elmo-tasks[postgresql]) when missing, starts a throwaway server on
# 127.0.0.1 in a temporary folder, runs WORKERS workers of a small SST-2 search
# (experiment=sst2_baseline) on it at the same time, prints the study trial by trial (state,
# value, which worker ran it) and stops the server.
#
#   bench/postgres_sweep.sh [WORKERS] [N_TRIALS]       (from the project root; root or the
#                                                       postgres user's rights for the server)
set -euo pipefail
workers=${1:-2}
trials=${2:-8}
port=${PGPORT:-55432}
cd "$(dirname "$0")/.."

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt-get install -y -q postgresql >/dev/null
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
python -c "import psycopg" 2>/dev/null || pip install -q -e ".[postgresql]"
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

work=$(mktemp -d)
[ "$(id -u)" = 0 ] && chown postgres "$work"
stop() { as_postgres "$bin/pg_ctl" -D "$work/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap stop EXIT
as_postgres "$bin/initdb" -D "$work/data" -U optuna --auth=trust >/dev/null
as_postgres "$bin/pg_ctl" -D "$work/data" -l "$work/server.log" -w \
  -o "-p $port -k $work -c listen_addresses=127.0.0.1" start >/dev/null
as_postgres "$bin/createdb" -h 127.0.0.1 -p "$port" -U optuna optuna
url="postgresql://optuna@127.0.0.1:$port/optuna"
echo "# PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port; $workers workers, n_trials=$trials"

mkdir -p logs/postgres_sweep
pids=()
started=$(date +%s)
for i in $(seq "$workers"); do
  python train.py hparams_search=sst2_optuna experiment=sst2_baseline \
    "hydra.sweeper.storage=$url" hydra.sweeper.study_name=postgres_bench "hydra.sweeper.n_trials=$trials" \
    task.max_train_samples=500 task.max_eval_samples=200 trainer.max_epochs=2 threads=1 \
    callbacks.rich_progress_bar=null trainer.enable_progress_bar=false \
    paths.log_dir=logs/postgres_sweep hydra.sweep.dir=logs/postgres_sweep/trials \
    > "logs/postgres_sweep/worker$i.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
echo "workers done in $(( $(date +%s) - started )) s, exit status $status"
python - "$url" <<'PY'
import sys

import optuna

study = optuna.load_study(study_name="postgres_bench", storage=sys.argv[1])
print("| trial | state | value | worker |\n|---:|---|---:|---|")
for t in study.trials:
    value = "" if t.value is None else f"{t.value:.4f}"
    print(f"| {t.number} | {t.state.name} | {value} | {t.system_attrs.get('elmo_tasks:worker', '')} |")
PY
exit "$status"
