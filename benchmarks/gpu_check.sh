#!/usr/bin/env bash
# The GPU check of issues 23 and 43, on the device tool's lent machine as it is: no network, Python 3.12 at python3
# with its own CUDA torch (never installed here), at most 64 MiB a call, at most 8 files back from $OUT.
# benchmarks/gpu_prepare.sh (run beforehand, with network, on the developer's machine) cut the missing wheels into
# .whl/parts/c1 .. cN and printed the calls, each carrying one folder:
#   bash benchmarks/gpu_check.sh stash .whl/parts/cK   calls 1..N-1: keep this call's parts (each checked by its
#                                                      sha256) in $GPU_WORK/parts, /tmp/trpo_mimic_gpu/parts by
#                                                      default; the first one also says what the machine has
#   bash benchmarks/gpu_check.sh run .whl/parts/cN     the last call (about 8 minutes at most):
#     1. keeps its parts too, puts every wheel together in $GPU_WORK/wheels from the parts found there or in
#        .whl/parts/c* (each wheel checked by its sha256), and stops at once, naming the calls to make again, if
#        parts are missing: the machine went back between calls (more than 30 s apart) and /tmp went with it;
#     2. pip install --no-index --no-deps --target $GPU_WORK/site, which goes on PYTHONPATH with src/; imports;
#     3. says whether a video can be written: MuJoCo's EGL renderer must start (the GL loaders from .gl are
#        unpacked when the image lacks libEGL); mp4 only if imageio-ffmpeg was carried, else a gif (pillow);
#     4. measures DeepMimic samples/s with --physics warp for 512, 2048 and 8192 characters (benchmarks/warp_speed.py),
#        with a recorded graph and launched from Python;
#     5. trains the walk with the preset on 4096 characters for a fixed wall budget ($BUDGET_S, 180 s, less if the
#        steps before took long: everything ends within $TOTAL_S, 450 s), stopped then, saving its checkpoint;
#     6. evaluates it (10 deterministic episodes) and records the video.
#     What comes back ($OUT, else $GPU_CHECK_OUT, else runs/gpu_check_out; 8 files at most): summary.txt (the figures
#     for benchmarks/RESULTS.md), log.txt (nvidia-smi, installs, probes, speed tables), speed.json, train.log,
#     progress.csv, latest.pt, eval.txt and the video.
#   bash benchmarks/gpu_check.sh install [DIR]         steps 1-2 only (what benchmarks/gpu_dry_run.sh runs here)
# Without a parts folder named, a python that already imports mujoco_warp is used as it is. A run on a machine
# without a GPU (Warp's CPU device, tiny sizes), to check the script end to end:
#   GPU_CHECK_CPU=1 GPU_PYTHON=.venv/bin/python SIZES="4 8" NUM_ENVS=4 BUDGET_S=60 EVAL_STEPS=20 \
#     GPU_CHECK_OUT=/tmp/gpu_check_cpu bash benchmarks/gpu_check.sh run
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
parts=${2:-}
py=${GPU_PYTHON:-python3}
work=${GPU_WORK:-/tmp/trpo_mimic_gpu}
stash=$work/parts
t0=$SECONDS
case $mode in stash | run | install) ;; *) echo "usage: $0 stash|run|install [PARTS_DIR]" >&2; exit 2 ;; esac
[[ ${GPU_CHECK_DRY:-0} == 1 && $mode == run ]] && mode=install  # the dry run: the last call's command, steps 1-2

if [[ $mode == stash ]]; then
  [[ -n $parts ]] || { echo "stash needs the call's parts folder" >&2; exit 2; }
  "$py" benchmarks/gpu_wheels.py stash "$parts" "$stash" || exit 1
  if [[ ! -e $work/probed ]]; then  # what the machine has, once (a few seconds)
    touch "$work/probed"
    { nvidia-smi -L || true; } 2>&1 | head -n 2
    "$py" -c 'import sys, torch; print("python", sys.version.split()[0], sys.executable, "| torch", torch.__version__,
"cuda", torch.version.cuda, torch.cuda.is_available())' 2>&1 | tail -n 1
    echo "libEGL: $(ldconfig -p 2>/dev/null | grep -c 'libEGL.so.1') found by ldconfig; free /tmp: $(df -h /tmp | awk 'NR==2{print $4}')"
  fi
  exit 0
fi

out=${OUT:-${GPU_CHECK_OUT:-runs/gpu_check_out}}
mkdir -p "$out"
tmp=$work/run
rm -rf "$tmp" && mkdir -p "$tmp"
logf=$out/log.txt
: >"$logf"
: >"$out/summary.txt"
log() { echo "[gpu_check +$((SECONDS - t0))s] $*" | tee -a "$out/summary.txt"; }
budget=${BUDGET_S:-180}
total=${TOTAL_S:-450}
eval_timeout=${EVAL_TIMEOUT_S:-90}
sizes=${SIZES:-512 2048 8192}
num_envs=${NUM_ENVS:-4096}
eval_steps=${EVAL_STEPS:-300}
device=cuda
[[ ${GPU_CHECK_CPU:-0} == 1 ]] && device=cpu
export MUJOCO_GL=${MUJOCO_GL:-egl} PYTHONUNBUFFERED=1

# 1. the wheels
[[ -n $parts ]] && { "$py" benchmarks/gpu_wheels.py stash "$parts" "$stash" >>"$logf" 2>&1 || { log "stash of $parts failed"; exit 1; }; }
search=("$stash")
for d in .whl/parts/c*; do [[ -d $d ]] && search+=("$d"); done
if [[ -z $parts ]] && "$py" -c 'import mujoco_warp' 2>/dev/null; then
  log "no parts named and $py has mujoco_warp: using it as it is"
elif compgen -G "$stash/manifest.json" >/dev/null || compgen -G ".whl/parts/c*/manifest.json" >/dev/null; then
  rm -rf "$work/wheels" "$work/site"
  if ! "$py" benchmarks/gpu_wheels.py assemble --into "$work/wheels" "${search[@]}" 2>&1 | tee -a "$logf"; then
    log "stopping: wheels incomplete (see above)"; exit 3
  fi
  log "wheels put together and checked: $(ls "$work/wheels" | tr '\n' ' ')"
  # 2. the install, with no index: nothing can be fetched there anyway
  # shellcheck disable=SC2086  # GPU_CHECK_PIP_FLAGS: the dry run's install for 3.12 from another python
  if ! "$py" -m pip install -q --isolated --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      ${GPU_CHECK_PIP_FLAGS:-} --target "$work/site" "$work"/wheels/*.whl >>"$logf" 2>&1; then
    log "pip install failed (see log.txt)"; exit 1
  fi
  export PYTHONPATH=$work/site${PYTHONPATH:+:$PYTHONPATH}
  log "installed into $work/site (+$((SECONDS - t0))s)"
else
  log "no parts found: using $py as it is"
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
if [[ ${GPU_CHECK_NO_IMPORT:-0} == 1 ]]; then
  log "imports not checked (GPU_CHECK_NO_IMPORT=1)"
elif ! "$py" - 2>&1 <<'EOF' | tee -a "$out/summary.txt"; then
import importlib, sys
sys.path.insert(0, "benchmarks")
from gpu_wheels import IMPORT_CHECK
for name in IMPORT_CHECK:
    m = importlib.import_module(name)
    print(f"import {name}: ok {getattr(m, '__version__', '')} ({m.__file__})")
EOF
  log "stopping: an import failed"; exit 1
fi
if [[ $mode == install ]]; then log "install checked: stopping here ($mode)"; exit 0; fi

nvidia-smi >>"$logf" 2>&1 || log "nvidia-smi failed: is there a GPU?"
if [[ $device == cuda ]]; then
  "$py" -c 'import torch; assert torch.cuda.is_available()' 2>>"$logf" || { log "torch sees no CUDA device: stopping"; exit 1; }
fi
log "python $py; $("$py" -c 'import sys, torch, warp; print("Python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "warp", warp.__version__)' 2>>"$logf")"

# 3. can a video be written?
if [[ $device == cuda && -d .gl ]] && ! ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1' && [[ $(id -u) == 0 ]]; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  log "GL loaders unpacked from .gl (the image had no libEGL)"
fi
probe() {
  "$py" - >>"$logf" 2>&1 <<'EOF'
import mujoco
m = mujoco.MjModel.from_xml_string("<mujoco><worldbody><light pos='0 0 3'/><geom size='1'/></worldbody></mujoco>")
r = mujoco.Renderer(m, 48, 64)
r.update_scene(mujoco.MjData(m))
print("MuJoCo's EGL renderer started; mean pixel of a probe frame", r.render().mean())
EOF
}
video=()
if probe || { [[ -e /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ]] &&
    export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json && probe; }; then
  fmt=gif
  "$py" -c 'import imageio_ffmpeg' 2>/dev/null && fmt=mp4
  video=(--record_video --video_format "$fmt" --video_dir "$tmp/videos")
  log "video: yes, $fmt ($([[ $fmt == gif ]] && echo 'no imageio-ffmpeg: a gif through pillow' || echo 'imageio-ffmpeg there'))"
else
  log "video: no (MuJoCo's EGL renderer did not start: see log.txt)"
fi

# 4. speed
left() { echo $((total - (SECONDS - t0))); }
log "env speed (the first use compiles Warp's kernels)"
# shellcheck disable=SC2086
timeout -k 10 "${SPEED_TIMEOUT_S:-180}" "$py" benchmarks/warp_speed.py --sizes $sizes --physics warp --steps 30 \
  --json "$tmp/speed_graph.json" 2>&1 | tee -a "$logf" | grep "characters" | tee -a "$out/summary.txt"
log "the same, each step's kernels launched from Python (no recorded graph)"
# shellcheck disable=SC2086
timeout -k 10 "${LAUNCHED_TIMEOUT_S:-60}" "$py" benchmarks/warp_speed.py --sizes $sizes --physics warp --steps 10 \
  --no-graph --json "$tmp/speed_launched.json" 2>&1 | tee -a "$logf" | grep "characters" | tee -a "$out/summary.txt"
"$py" - "$tmp" "$out/speed.json" <<'EOF'
import json, os, sys
rows = {k: json.load(open(f"{sys.argv[1]}/speed_{k}.json")) if os.path.exists(f"{sys.argv[1]}/speed_{k}.json") else None
        for k in ("graph", "launched")}
json.dump(rows, open(sys.argv[2], "w"), indent=1)
EOF

# 5. training for the budget that is left
train_s=$(($(left) - eval_timeout - 20))
((train_s > budget)) && train_s=$budget
run=gpu-walk
if ((train_s < 30)); then
  log "no time left to train ($train_s s): skipping training and evaluation"
else
  log "training the walk on $num_envs characters for ${train_s} s (budget $budget s)"
  timeout -k 30 -s INT "$train_s" "$py" -m trpo_mimic train --arg_file configs/deepmimic.txt \
    --arg_file configs/skills/walk.txt --physics warp --num_envs "$num_envs" --steps_per_env 16 --device "$device" \
    --num_timesteps 200000000 --eval_freq 20 --eval_episodes 5 --no-eval_video --checkpoint_dir "$tmp/runs" \
    --run_name "$run" --no-progress >"$out/train.log" 2>&1
  log "training exit $? (124/130: stopped by the budget, as meant)"
  grep -E "^iter" "$out/train.log" | tail -n 3 | tee -a "$out/summary.txt"
  "$py" - "$tmp/runs/$run" <<'EOF' 2>>"$logf" | tee -a "$out/summary.txt"
import sys, torch
c = torch.load(sys.argv[1] + "/latest.pt", weights_only=True, map_location="cpu")
s = c.get("train_seconds", 0)
print(f"{c['timesteps']} samples in {s:.0f} s of training: {c['timesteps'] / max(s, 1e-9):.0f} samples/s, whole loop")
EOF
  for f in latest.pt progress.csv; do
    [[ -f $tmp/runs/$run/$f && $(stat -c %s "$tmp/runs/$run/$f") -le 16000000 ]] && cp "$tmp/runs/$run/$f" "$out/"
  done

  # 6. evaluation and video
  e=$(($(left) - 5))
  ((e > eval_timeout)) && e=$eval_timeout
  log "evaluating (at most $e s)"
  timeout -k 10 "$e" "$py" -m trpo_mimic evaluate --load_model_path "$tmp/runs/$run" --num_eval_episodes 10 \
    --max_episode_steps "$eval_steps" "${video[@]}" --no-progress >"$out/eval.txt" 2>&1
  log "evaluation exit $?"
  grep -E "per step|falls|error_body_pos|episodes" "$out/eval.txt" | tee -a "$out/summary.txt"
  v=$(find "$tmp/videos" -type f 2>/dev/null | head -n 1)
  if [[ -n $v && $(stat -c %s "$v") -le 16000000 ]]; then
    cp "$v" "$out/walk.${v##*.}"
    log "video: walk.${v##*.} ($(stat -c %s "$v") bytes)"
  elif [[ ${#video[@]} -gt 0 ]]; then
    log "video: none written (or larger than 16 MB)"
  fi
fi
log "done in $((SECONDS - t0)) s: $(find "$out" -type f | wc -l) files in $out (8 at most come back)"
