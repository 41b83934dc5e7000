#!/usr/bin/env bash
# TRPO on an Atari game: training run, learning curve PNG, trained vs random policy, samples/s.
#
#   benchmarks/atari.sh [CONFIG] [NUM_TIMESTEPS] [SEED]
#     CONFIG         configs/atari_breakout.txt (default) or configs/atari_pong.txt
#     NUM_TIMESTEPS  agent steps (1 step = 4 emulator frames); default 500000 = 2M frames
#     SEED           default 0
#
# Writes the run (checkpoints, progress.csv, videos) to $RUNS_DIR/<run> (default runs/atari, not
# tracked), and to benchmarks/atari/: <run>.png (learning curve: training return, which is per LIFE
# for Breakout, and the deterministic evaluation return = whole games), <run>.log, <run>.progress.csv
# and <run>.md (final evaluation vs a uniformly random policy, throughput).
# Needs: pip install ale-py opencv-python-headless.  Environment variables: PYTHON (default
# .venv/bin/python if present), EVAL_EPISODES (default 10), EXTRA (more train flags).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-configs/atari_breakout.txt}
STEPS=${2:-500000}
SEED=${3:-0}
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
EVAL_EPISODES=${EVAL_EPISODES:-10}
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
ENV_ID=$(sed -n 's/^--env_id[[:space:]]\+\([^[:space:]#]\+\).*/\1/p' "$CONFIG" | head -1)
MAX_STEPS=$(sed -n 's/.*--max_episode_steps[[:space:]]\+\([0-9]\+\).*/\1/p' "$CONFIG" | head -1)
MAX_STEPS=${MAX_STEPS:-27000}
RUN="$(basename "$CONFIG" .txt)-${STEPS}-s${SEED}"
OUT=benchmarks/atari
RUNS=${RUNS_DIR:-runs/atari}
mkdir -p "$OUT" "$RUNS"
# A run that was stopped (killed, or the session ended) continues from its latest.pt when the same command
# is typed again: nothing is lost, and the run is the same run (the checkpoint holds every RNG state).
RESUME=() TEE=(tee "$OUT/$RUN.log")
if [ -f "$RUNS/$RUN/latest.pt" ]; then
    RESUME=(--resume "$RUNS/$RUN") TEE=(tee -a "$OUT/$RUN.log")
    echo "== resuming $RUNS/$RUN from its latest.pt"
elif [ -d "$RUNS/$RUN" ]; then
    RESUME=(--overwrite)  # stopped before its first checkpoint: nothing to continue, it starts afresh
fi
echo "== training $ENV_ID for $STEPS agent steps ($((STEPS * 4)) frames), run $RUNS/$RUN"
START=$(date +%s)
"$PY" -m trpo_mimic train --arg_file "$CONFIG" --num_timesteps "$STEPS" --seed "$SEED" \
    --checkpoint_dir "$RUNS" --run_name "$RUN" --no-progress "${RESUME[@]}" ${EXTRA:-} 2>&1 \
    | grep -v -e '^A.L.E:' -e 'Powered by Stella' | "${TEE[@]}"
END=$(date +%s)
cp "$RUNS/$RUN/progress.csv" "$OUT/$RUN.progress.csv"
"$PY" -m trpo_mimic plot "$RUNS/$RUN" --out "$OUT/$RUN.png" --title "TRPO $ENV_ID ($STEPS steps, seed $SEED)"
echo "== evaluating the trained policy ($EVAL_EPISODES episodes, deterministic, no life-loss terminal)"
"$PY" -m trpo_mimic evaluate --load_model_path "$RUNS/$RUN" --num_eval_episodes "$EVAL_EPISODES" \
    --max_episode_steps "$MAX_STEPS" --seed 12345 --no-progress 2>&1 | grep -v -e '^A.L.E:' -e 'Powered by Stella' \
    | tee "$RUNS/$RUN/eval.txt"
echo "== evaluating the trained policy ($EVAL_EPISODES episodes, stochastic: actions sampled as in training)"
"$PY" -m trpo_mimic evaluate --load_model_path "$RUNS/$RUN" --num_eval_episodes "$EVAL_EPISODES" \
    --max_episode_steps "$MAX_STEPS" --seed 12345 --stochastic_policy --no-progress 2>&1 \
    | grep -v -e '^A.L.E:' -e 'Powered by Stella' | tee "$RUNS/$RUN/eval_stochastic.txt"
echo "== random policy ($EVAL_EPISODES episodes, same environment)"
"$PY" - "$ENV_ID" "$EVAL_EPISODES" "$MAX_STEPS" "$RUNS/$RUN" "$((END - START))" "$RUNS/$RUN/eval.txt" \
    "$RUNS/$RUN/eval_stochastic.txt" > "$OUT/$RUN.md" <<'PYEOF'
import csv, re, sys
import numpy as np
from trpo_mimic.envs import make_env
env_id, episodes, max_steps, run, wall, eval_txt, eval_sto = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5]), sys.argv[6], sys.argv[7]
env = make_env(env_id, max_episode_steps=max_steps)  # evaluation env: a lost life is not terminal
rng = np.random.default_rng(0)
rand = []
for ep in range(episodes):
    env.reset(seed=12345 + ep)
    total, done = 0.0, False
    while not done:
        _, r, term, trunc, _ = env.step(int(rng.integers(env.action_space.n)))
        total += float(r)
        done = term or trunc
    rand.append(total)
rows = list(csv.DictReader(open(f"{run}/progress.csv")))
sps = [float(r["Perf/SamplesPerSecond"]) for r in rows if r.get("Perf/SamplesPerSecond")]
def mean_std(path):
    m = re.search(r"return:\s+(-?[\d.]+) ± ([\d.]+)", open(path).read())
    return f"{m.group(1)} ± {m.group(2)}" if m else "n/a"
trained, trained_sto = mean_std(eval_txt), mean_std(eval_sto)
print(f"# TRPO {env_id}: {run}\n")
print(f"| policy | episodes | return (mean ± std) |\n|---|---|---|")
print(f"| trained (deterministic) | {episodes} | {trained} |")
print(f"| trained (stochastic, as in training) | {episodes} | {trained_sto} |")
print(f"| uniformly random | {episodes} | {np.mean(rand):.2f} ± {np.std(rand):.2f} |\n")
print(f"Training throughput: {np.mean(sps):.0f} samples/s (mean of iterations, agent steps incl. the TRPO update); "
      f"wall clock {wall:.0f} s for the last training command (a resumed run counts only its last part)" + ".")
print(f"Learning curve: {run.split('/')[-1]}.png")
PYEOF
cat "$OUT/$RUN.md"
