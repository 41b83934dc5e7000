#!/usr/bin/env bash
# Train one DeepMimic skill with the one preset and print its figures against the skill's bar (issue 18).
#   benchmarks/deepmimic_train.sh SKILL [SAMPLES] [extra train flags...]
# SKILL names a skill file, configs/skills/SKILL.txt (the clip and DeepMimic's episode rules for it): walk jog
# run jump backflip spinkick cartwheel crawl roll dance_a punch getup_faceup. Every skill trains with the same
# preset, configs/deepmimic.txt ($TRPO_MIMIC_PRESET to try another), up to SAMPLES (default 20M).
# Training stops early once an evaluation during training is GOAL_MARGIN (0.01) above the skill's bar with no
# fall (--stop_reward_per_step; TRPO_MIMIC_STOP=none trains to SAMPLES regardless).
# The run is runs/deepmimic-SKILL ($TRPO_MIMIC_RUN to name it otherwise). If it already holds a checkpoint (a run
# that was stopped, or one to take further), the script resumes it up to SAMPLES instead of starting again.
# Then it evaluates the last checkpoint (100 deterministic 10 s episodes from random phases with the cards' seed,
# 1234, which no training uses for stopping and no choice of checkpoint uses; a video of one more), writes a
# 4-second gif, and prints the samples, the training wall time (summed over resumes) and, from
# benchmarks/deepmimic/targets.py, the reward per step, the fall rate with its 95% interval, body-position error
# and success rate against the skill's bar (issue 39: at most 1 fall in 100). A policy that meets it ships as: trpo-mimic export runs/deepmimic-SKILL --pretrained pretrained/SKILL.pt
set -euo pipefail
cd "$(dirname "$0")/.."
skill=${1:?usage: benchmarks/deepmimic_train.sh SKILL [SAMPLES] [flags...]}
samples=${2:-20000000}
shift $(( $# >= 2 ? 2 : 1 ))
skill_file=configs/skills/$skill.txt
if [[ ! -f $skill_file ]]; then
  echo "unknown skill $skill: no $skill_file (skills: $(cd configs/skills && ls ./*.txt | sed 's|./||; s|\.txt||' | tr '\n' ' '))" >&2
  exit 2
fi
preset=${TRPO_MIMIC_PRESET:-configs/deepmimic.txt}
run=${TRPO_MIMIC_RUN:-deepmimic-$skill}
bin=${TRPO_MIMIC_BIN:-.venv/bin/trpo-mimic}
py=${TRPO_MIMIC_PYTHON:-.venv/bin/python}
export MUJOCO_GL=${MUJOCO_GL:-egl}
stop=()
if [[ ${TRPO_MIMIC_STOP:-bar} != none ]]; then
  stop=(--stop_reward_per_step "$("$py" benchmarks/deepmimic/targets.py --goal "$skill")")
fi
mkdir -p runs
# training runs in the background so that a SIGTERM or Ctrl-C to this script reaches it at once (it saves its
# checkpoint and exits; the script then stops without evaluating)
if [[ -f runs/$run/latest.pt ]]; then
  "$bin" train --resume "runs/$run" --num_timesteps "$samples" --no-progress "${stop[@]}" "$@" \
    > >(tee -a "runs/$run.log") 2>&1 &
else
  fresh=()  # a run stopped before its first checkpoint has nothing to continue: it starts afresh
  if [[ -d runs/$run ]]; then fresh=(--overwrite); fi
  "$bin" train --arg_file "$preset" --arg_file "$skill_file" --num_timesteps "$samples" --run_name "$run" \
    --no-progress "${fresh[@]}" "${stop[@]}" "$@" > >(tee "runs/$run.log") 2>&1 &
fi
train_pid=$!
trap 'kill -TERM "$train_pid" 2>/dev/null; wait "$train_pid"; exit 143' TERM INT
wait "$train_pid"
trap - TERM INT
"$bin" evaluate --load_model_path "runs/$run" --num_eval_episodes 100 --max_episode_steps 300 --seed 1234 \
  --no-progress | tee "runs/$run/eval.txt"
"$bin" evaluate --load_model_path "runs/$run" --num_eval_episodes 1 --max_episode_steps 300 \
  --record_video --video_dir "runs/$run/videos" --no-progress > /dev/null
"$bin" evaluate --load_model_path "runs/$run" --num_eval_episodes 1 --max_episode_steps 120 \
  --record_video --video_format gif --video_dir "runs/$run/videos" --no-progress > /dev/null
read -r samples_done seconds < <("$py" -c "
import torch
c = torch.load('runs/$run/latest.pt', weights_only=True)
print(c['timesteps'], round(c.get('train_seconds', 0)))")
echo "skill $skill: $samples_done samples, training wall time $(( seconds / 60 )) min"
"$py" benchmarks/deepmimic/targets.py "$skill" "$samples_done" "runs/$run/eval.txt"
