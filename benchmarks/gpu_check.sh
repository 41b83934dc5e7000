#!/usr/bin/env bash
# The GPU check of issue 23, in one go on a machine with an NVIDIA GPU (meant to finish within 8 minutes):
#   benchmarks/gpu_check.sh [OUTDIR]        (default: $OUT if set, else gpu_check_out)
# 1. installs what it needs: the project with its gpu extra (MuJoCo Warp) into .venv-gpu, unless the python in
#    $TRPO_MIMIC_PYTHON already has torch with CUDA and mujoco_warp;
# 2. measures DeepMimic samples/s with --physics warp for 512, 2048 and 8192 characters (benchmarks/warp_speed.py);
# 3. trains the walk with the preset on 4096 characters for a fixed wall budget ($BUDGET_S, default 180 s; the
#    training is interrupted then and saves its checkpoint), on the GPU for physics, networks and updates;
# 4. evaluates the result (10 deterministic episodes) and records a video.
# Everything lands in OUTDIR: gpu.txt, speed.json/.txt, train.log, eval.txt, the run directory, the video and
# summary.txt (the figures for benchmarks/RESULTS.md).
# A dry run of the script on a machine without a GPU (Warp's CPU device, tiny sizes), to check it end to end:
#   GPU_CHECK_CPU=1 SIZES="4 8" NUM_ENVS=4 BUDGET_S=60 EVAL_STEPS=20 TRPO_MIMIC_PYTHON=.venv/bin/python \
#     benchmarks/gpu_check.sh /tmp/gpu_check_dry
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-gpu_check_out}}
mkdir -p "$out"
budget=${BUDGET_S:-180}
sizes=${SIZES:-512 2048 8192}
num_envs=${NUM_ENVS:-4096}
eval_steps=${EVAL_STEPS:-300}
device=cuda
ready='import torch, mujoco_warp, trpo_mimic; assert torch.cuda.is_available()'
if [[ ${GPU_CHECK_CPU:-0} == 1 ]]; then
  device=cpu
  ready='import torch, mujoco_warp, trpo_mimic'
fi
export MUJOCO_GL=${MUJOCO_GL:-egl}
log() { echo "[gpu_check $(date +%H:%M:%S)] $*" | tee -a "$out/summary.txt"; }

nvidia-smi > "$out/gpu.txt" 2>&1 || log "nvidia-smi failed: is there a GPU?"
py=${TRPO_MIMIC_PYTHON:-}
if [[ -z $py ]] || ! "$py" -c "$ready" 2>/dev/null; then
  py=.venv-gpu/bin/python
  if ! "$py" -c "$ready" 2>/dev/null; then
    log "installing into .venv-gpu"
    python3 -m venv .venv-gpu
    "$py" -m pip install -q --upgrade pip
    "$py" -m pip install -q torch==2.13.0 > "$out/install.log" 2>&1 || log "torch install failed (see install.log)"
    "$py" -m pip install -q -e ".[gpu]" >> "$out/install.log" 2>&1 || log "project install failed (see install.log)"
  fi
fi
"$py" -c "$ready" || { log "no CUDA torch or no mujoco_warp in $py: stopping"; exit 1; }
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
bin=$(dirname "$py")/trpo-mimic
log "python $py; $("$py" -c 'import torch, warp; print("torch", torch.__version__, "cuda", torch.version.cuda, "warp", warp.__version__)')"

log "env speed (first use compiles Warp's kernels)"
# shellcheck disable=SC2086
"$py" benchmarks/warp_speed.py --sizes $sizes --physics warp --steps 30 --json "$out/speed.json" \
  2>&1 | tee "$out/speed.txt" | tee -a "$out/summary.txt"
log "the same, each step's kernels launched from Python (no recorded graph)"
# shellcheck disable=SC2086
"$py" benchmarks/warp_speed.py --sizes $sizes --physics warp --steps 10 --no-graph --json "$out/speed_launched.json" \
  2>&1 | tee "$out/speed_launched.txt" | tee -a "$out/summary.txt"

log "training the walk on $num_envs characters for ${budget} s"
run=gpu-walk
rm -rf "$out/runs/$run"
timeout -s INT "$budget" "$bin" train --arg_file configs/deepmimic.txt --arg_file configs/skills/walk.txt \
  --physics warp --num_envs "$num_envs" --steps_per_env 16 --device "$device" --num_timesteps 200000000 \
  --eval_freq 20 --eval_episodes 5 --no-eval_video --checkpoint_dir "$out/runs" --run_name "$run" --no-progress \
  > "$out/train.log" 2>&1
log "training exit $? (124/130: stopped by the budget, as meant)"
grep -E "^iter" "$out/train.log" | tail -n 3 | tee -a "$out/summary.txt"
"$py" - "$out/runs/$run" <<'EOF' | tee -a "$out/summary.txt"
import sys, torch
c = torch.load(sys.argv[1] + "/latest.pt", weights_only=True, map_location="cpu")
s = c.get("train_seconds", 0)
print(f"{c['timesteps']} samples in {s:.0f} s of training: {c['timesteps'] / max(s, 1e-9):.0f} samples/s, whole loop")
EOF

log "evaluating"
"$bin" evaluate --load_model_path "$out/runs/$run" --num_eval_episodes 10 --max_episode_steps "$eval_steps" --record_video \
  --video_dir "$out/videos" --no-progress > "$out/eval.txt" 2>&1
grep -E "per step|falls|error_body_pos|episodes" "$out/eval.txt" | tee -a "$out/summary.txt"
log "done: $out"
