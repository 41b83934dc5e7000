#!/usr/bin/env bash
# Reproduce a DeepMimic imitation run end to end and print the evaluation figures.
#   benchmarks/deepmimic_train.sh SKILL [SAMPLES] [extra train flags...]
# SKILL: walk | run | jump | backflip (preset configs/deepmimic_SKILL.txt, clip ../shared/motions/humanoid3d_SKILL.txt)
# If configs/deepmimic_SKILL.stages exists, training goes in stages: each line "UNTIL_SAMPLES FLAGS..." resumes
# the run with those flags until that many samples (a curriculum, e.g. a drift termination switched on later);
# SAMPLES, when given, caps the last stage.
# Writes runs/deepmimic-SKILL-<time>/ (checkpoints, logs, learning_curve.png, videos) and prints: samples,
# wall time, then (benchmarks/deepmimic/targets.py) the mean reward per step, falls, body-position error and
# success rate over 10 deterministic 10-second episodes from random phases, against the skill's bar.
set -euo pipefail
cd "$(dirname "$0")/.."
skill=${1:?usage: benchmarks/deepmimic_train.sh SKILL [SAMPLES] [flags...]}
samples=${2:-20000000}
shift $(( $# >= 2 ? 2 : 1 ))
motions=${TRPO_MIMIC_MOTION_DIR:-../shared/motions}
run=deepmimic-$skill-$(date +%Y%m%d-%H%M%S)
bin=${TRPO_MIMIC_BIN:-.venv/bin/trpo-mimic}
py=${TRPO_MIMIC_PYTHON:-.venv/bin/python}
stages=${TRPO_MIMIC_STAGES:-configs/deepmimic_$skill.stages}
export MUJOCO_GL=${MUJOCO_GL:-egl}
mkdir -p runs
start=$(date +%s)
if [[ -f $stages ]]; then
  first=1
  while read -r until flags; do
    [[ -z $until || $until == \#* ]] && continue
    (( until > samples )) && until=$samples
    if (( first )); then
      # shellcheck disable=SC2086
      "$bin" train --arg_file "configs/deepmimic_$skill.txt" --motion_file "$motions/humanoid3d_$skill.txt" \
        --num_timesteps "$until" --run_name "$run" --no-progress $flags "$@" | tee -a "runs/$run.log"
      first=0
    else
      # shellcheck disable=SC2086
      "$bin" train --resume "runs/$run" --num_timesteps "$until" --no-progress $flags "$@" | tee -a "runs/$run.log"
    fi
    (( until >= samples )) && break
  done < "$stages"
else
  "$bin" train --arg_file "configs/deepmimic_$skill.txt" --motion_file "$motions/humanoid3d_$skill.txt" \
    --num_timesteps "$samples" --run_name "$run" --no-progress "$@" | tee "runs/$run.log"
fi
end=$(date +%s)
"$bin" evaluate --load_model_path "runs/$run" --num_eval_episodes 10 --max_episode_steps 300 \
  --record_video --video_dir "runs/$run/videos" --no-progress | tee "runs/$run/eval.txt"
samples_done=$("$py" -c "import torch;c=torch.load('runs/$run/latest.pt',weights_only=True);print(c['timesteps'])")
echo "skill $skill: $samples_done samples, wall $(( (end - start) / 60 )) min"
"$py" benchmarks/deepmimic/targets.py "$skill" "$samples_done" "runs/$run/eval.txt"
