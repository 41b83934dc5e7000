#!/usr/bin/env bash
# Get the GPU check (issue 43) ready, HERE, with network, before the calls to a lent device machine:
#   benchmarks/gpu_prepare.sh
# That machine has Python 3.12 with a CUDA torch but no mujoco, mujoco-warp, warp-lang or gymnasium, and no
# network; a call moves at most 64 MiB (the working tree, tracked and untracked-not-ignored files, plus what it
# carries). So this script
#  1. downloads the wheels that the check needs there (benchmarks/gpu_wheels.py's CARRIED, plus any NAME==VERSION in
#     $GPU_EXTRA_WHEELS) for CPython 3.12 on manylinux x86-64, with the device tool's `pip download` flags, into
#     .whl/wheels (ignored by git), and removes older downloads there;
#  2. downloads, for the offline dry run only (never carried), stand-ins for the device's own packages that those
#     wheels need (numpy at the device's version, absl-py, etils[epath], ...) into .whl/base;
#  3. downloads the GL loaders (libEGL and friends, Debian packages, the tool's recipe) into .gl, unless GPU_GL=0,
#     so that the device can render the video if its image lacks them;
#  4. measures the working tree, cuts the wheels into .whl/parts/c1 .. cN so that tree + parts stay under 64 MiB in
#     every call (with a 2 MiB margin; GPU_MARGIN_MIB), writes .whl/plan.json and prints the calls to make;
#  5. checks that the carried wheels, the device's packages and the needs skipped on purpose cover every requirement
#     of the wheels, of pyproject.toml and every import of the check's code.
# Then: benchmarks/gpu_dry_run.sh (offline) proves the plan here; the printed calls run it there, back to back.
# The tree changes as work goes on: run this again right before the device calls.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PREPARE_PYTHON:-}
if [[ -z $py ]]; then
  if [[ -x .venv/bin/python ]]; then py=.venv/bin/python; else py=python3; fi
fi
helper=(env PYTHONDONTWRITEBYTECODE=1 "$py" benchmarks/gpu_wheels.py)
for d in .whl .gl; do
  git check-ignore -q "$d/x" || { echo "$d/ is not ignored by git: it would travel with every call; stopping" >&2; exit 1; }
done
flags=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
       --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
       --platform manylinux1_x86_64)

read -r -a want <<<"$("${helper[@]}" carried) ${GPU_EXTRA_WHEELS:-}"
echo "== 1. wheels for the device: ${want[*]}"
mkdir -p .whl/wheels
"$py" -m pip download -q --no-deps "${flags[@]}" -d .whl/wheels "${want[@]}" 2>&1 | grep -v "is ignored: it is neither" || true
"${helper[@]}" prune --wheels .whl/wheels "${want[@]}"
n=$(find .whl/wheels -name '*.whl' | wc -l)
[[ $n == "${#want[@]}" ]] || { echo "expected ${#want[@]} wheels in .whl/wheels, found $n: stopping" >&2; exit 1; }
ls -l .whl/wheels

echo "== 2. stand-ins for the device's own packages (dry run only, never carried)"
mapfile -t base < <("${helper[@]}" base-reqs --wheels .whl/wheels)
echo "   ${base[*]}"
rm -rf .whl/base.new && mkdir -p .whl/base.new
if ! "$py" -m pip download -q "${flags[@]}" -d .whl/base.new "${base[@]}" 2>/dev/null; then
  echo "   (a pinned version is not to be had: unpinned instead)"
  "$py" -m pip download -q "${flags[@]}" -d .whl/base.new "${base[@]%%==*}" 2>&1 | grep -v "is ignored: it is neither" || true
fi
rm -rf .whl/base && mv .whl/base.new .whl/base
ls .whl/base

if [[ ${GPU_GL:-1} == 1 ]]; then
  echo "== 3. GL loaders for the device's renderer (.gl)"
  if compgen -G ".gl/*.deb" >/dev/null; then
    echo "   already there"
  else
    mkdir -p .gl /tmp/amd64/partial
    o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
    if ! { apt-get "${o[@]}" update -qq >/dev/null && (cd .gl && apt-get "${o[@]}" download -qq libvulkan1 libegl1 \
           libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null 2>&1); }; then
      echo "   apt-get could not fetch them: the device renders only if its image has libEGL (see gpu_check.sh)"
    fi
  fi
  ls -l .gl 2>/dev/null || true
else
  rm -rf .gl
fi

echo "== 4. the calls (tree measured now: other engineers' new files count too)"
rc=0
"${helper[@]}" plan --root . --wheels .whl/wheels --parts .whl/parts --last-extra .gl --json .whl/plan.json \
  --margin-mib "${GPU_MARGIN_MIB:-2}" | tee .whl/plan.txt || rc=1

echo "== 5. every need covered"
"${helper[@]}" check --wheels .whl/wheels --base .whl/base --root . || rc=1

calls=$("$py" -c 'import json; print(len(json.load(open(".whl/plan.json"))["calls"]))')
cat <<EOF
== how to spend a lent device
Make the $calls calls above with the device tool's run, in order, each one as soon as the previous one answers: a
machine stays warm 30 s after a call, and the parts that calls 1..$((calls - 1)) leave under /tmp on it are lost
when it goes back. Each early call only keeps its parts (seconds, plus the transfer); the last one puts the wheels
together, installs them and runs the check (at most about 8 minutes), then call give_back. Device time: the start
(a minute or two) + $((calls - 1)) short calls + the check, about 11-13 of the 15 minutes a task is lent: there is
no time for a second pass. If the last call says parts are missing, the machine went back in between: a new one was
started for that call, and the whole sequence would have to run again.
Offline proof first: benchmarks/gpu_dry_run.sh
EOF
exit $rc
