#!/usr/bin/env bash
# The device plan of benchmarks/gpu_prepare.sh played here, offline, from the parts alone (issue 43):
#   benchmarks/gpu_dry_run.sh            (after benchmarks/gpu_prepare.sh; about a minute; DRY_RUN_STEP=1 also steps
#                                         the DeepMimic characters with MuJoCo Warp on Warp's CPU device: minutes)
# 1. Leaves the network: runs itself again in a network namespace of its own (unshare -rn) where that works, and
#    whatever happens pip is run with --isolated --no-index: nothing can be downloaded.
# 2. Stands for the device's python: a fresh venv of Python 3.12 (uv's, the system's or pyenv's) holding only
#    stand-ins for the device's own packages that the carried wheels need (.whl/base: numpy at the device's version,
#    absl-py, etils, ...; each one checked to be on the device's package list) and no torch.
# 3. Stands for the device's checkout: a copy of what travels (tracked + untracked-not-ignored files, measured), into
#    which each call's carry alone is put, in turn, with the rest of .whl and .gl removed.
# 4. Makes each call of .whl/plan.json: checks that tree + carry fit 64 MiB, then runs its command as printed
#    (python3 is the venv's; GPU_CHECK_DRY=1 makes the last call stop after the install and the imports, since
#    there is neither torch nor a GPU here). The parts travel from call to call only through the stash under
#    the fake device's /tmp, as they must there.
# 5. Checks that the wheels put together are byte for byte the downloaded ones, and that the carried wheels, the
#    device's packages and the needs skipped on purpose cover every requirement and every import of the check.
# 6. Makes the last call alone on a fresh "device": it must stop at once and name the calls to make again.
# Exit 0: passed; 1: failed; 2: could not run (no plan, or no Python 3.12: then what can be done is done, PARTIAL).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
[[ -f .whl/plan.json ]] || { echo "no .whl/plan.json: run benchmarks/gpu_prepare.sh first (with network)" >&2; exit 2; }
if [[ -z ${DRY_RUN_NETNS:-} ]] && unshare -rn true 2>/dev/null; then
  DRY_RUN_NETNS=1 exec unshare -rn bash "$0" "$@"
fi
unset PYTHONPATH PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL
export PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INDEX=1 PIP_CONFIG_FILE=/dev/null
say() { echo "[dry run] $*"; }

# the interpreter: 3.12, else the closest there is
is312() { [[ -n $1 ]] && "$1" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; }
py=""
for c in "${DRY_RUN_PYTHON:-}" "$(command -v uv >/dev/null && uv python find 3.12 2>/dev/null || true)" python3.12 \
         /usr/bin/python3.12 /usr/local/bin/python3.12 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12; do
  if is312 "$c"; then py=$c; break; fi
done
partial=0
if [[ -z $py ]]; then
  partial=1
  for c in python3.13 python3.11 python3; do "$c" -c pass 2>/dev/null && { py=$c; break; }; done
  say "no Python 3.12 here: $py instead; the wheels are checked and installed for 3.12 but not imported (PARTIAL)"
fi
tmp=$(mktemp -d /tmp/gpu_dry_run.XXXXXX)
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf "$tmp"' EXIT
say "work folder $tmp"
if "$py" -c 'import socket; socket.create_connection(("pypi.org", 443), timeout=3)' 2>/dev/null; then
  say "network: reachable (no namespace could be made); pip runs with --isolated --no-index all the same"
else
  say "network: none${DRY_RUN_NETNS:+ (a network namespace of its own)}"
fi

# 2. the device's python
"$py" -m venv "$tmp/venv"
vpy=$tmp/venv/bin/python
say "python: $("$vpy" -c 'import sys; print(sys.version.split()[0], sys.executable)')"
if ((partial)); then
  say "stand-ins for the device's packages: not installed (built for 3.12), only read"
else
  "$vpy" -m pip install -q --isolated --no-index --no-deps .whl/base/*.whl
  say "stand-ins for the device's packages: $(cd .whl/base && ls | sed 's/-py3.*\|-cp3.*//' | tr '\n' ' ')"
fi

# 3. the device's checkout
"$vpy" benchmarks/gpu_wheels.py copy-tree . "$tmp/tree" >/dev/null
dev=$tmp/device
ncalls=$("$vpy" -c 'import json; print(len(json.load(open(".whl/plan.json"))["calls"]))')
say "plan: $ncalls calls"

# 4. the calls
fail=0
for ((k = 1; k <= ncalls; k++)); do
  IFS=$'\t' read -r cmd timeout_s carry < <("$vpy" -c '
import json, sys
c = json.load(open(".whl/plan.json"))["calls"][int(sys.argv[1]) - 1]
print(c["command"], c["timeout_s"], " ".join(c["carry"]), sep="\t")' "$k")
  rm -rf "$tmp/tree/.whl" "$tmp/tree/.gl"
  for c in $carry; do
    mkdir -p "$tmp/tree/$(dirname "$c")"
    cp -a "$c" "$tmp/tree/$c"
  done
  bytes=$("$vpy" benchmarks/gpu_wheels.py size "$tmp/tree")
  ok=yes
  ((bytes <= 64 * 1024 * 1024)) || { ok=NO; fail=1; }
  say "call $k: carry [$carry], tree + carry $bytes bytes ($((bytes * 100 / (64 * 1024 * 1024)))% of 64 MiB; fits: $ok)"
  say "call $k: $cmd"
  extra=()
  ((partial)) && extra=(GPU_CHECK_NO_IMPORT=1 "GPU_CHECK_PIP_FLAGS=--python-version 3.12 --implementation cp --only-binary=:all: --platform manylinux_2_28_x86_64")
  if ! (cd "$tmp/tree" && env PATH="$tmp/venv/bin:$PATH" GPU_WORK="$dev" GPU_CHECK_DRY=1 GPU_CHECK_OUT="$tmp/out" \
        "${extra[@]}" timeout "$timeout_s" bash -c "$cmd" 2>&1 | sed 's/^/    /'); then
    say "call $k FAILED"; fail=1
  fi
done

# 5. the wheels, byte for byte, and every need
for w in .whl/wheels/*.whl; do
  if ! cmp -s "$w" "$dev/wheels/$(basename "$w")"; then say "NOT the same bytes: $(basename "$w")"; fail=1; fi
done
[[ $(ls "$dev/wheels" | wc -l) == $(ls .whl/wheels | wc -l) ]] || { say "not every wheel was put together"; fail=1; }
((fail)) || say "every wheel put together from its parts is byte for byte the one downloaded"
"$vpy" benchmarks/gpu_wheels.py check --wheels "$dev/wheels" --base .whl/base --root "$tmp/tree" | sed 's/^/    /' ||
  fail=1
say "installed: $(ls "$dev/site" | grep -v -e dist-info -e '^bin$' | tr '\n' ' ')"

if [[ ${DRY_RUN_STEP:-0} == 1 && $partial == 0 ]]; then
  say "stepping 2 characters with MuJoCo Warp on Warp's CPU device (first use compiles its kernels: minutes)"
  (cd "$tmp/tree" && PYTHONPATH="$dev/site:$tmp/tree/src" timeout 1800 "$vpy" benchmarks/warp_speed.py --sizes 2 \
     --physics warp --steps 2 --warmup 1 2>&1 | sed 's/^/    /') || { say "stepping FAILED"; fail=1; }
fi

# 6. the last call alone, on a fresh device: it must name the calls to make again
last=$("$vpy" -c 'import json; print(json.load(open(".whl/plan.json"))["calls"][-1]["command"])')
if ((ncalls > 1)); then
  set +e
  msg=$(cd "$tmp/tree" && env PATH="$tmp/venv/bin:$PATH" GPU_WORK="$tmp/fresh" GPU_CHECK_DRY=1 \
        GPU_CHECK_OUT="$tmp/out_fresh" bash -c "$last" 2>&1)
  rc=$?
  set -e
  if [[ $rc == 3 ]] && grep -q "parts of calls" <<<"$msg"; then
    say "the last call alone on a fresh machine stops at once (exit 3): $(grep -o 'parts of calls [0-9, ]*' <<<"$msg")"
  else
    say "the last call alone did not stop as it should (exit $rc)"; fail=1
  fi
fi

if ((fail)); then say "FAILED"; exit 1; fi
if ((partial)); then say "PARTIAL: everything but the imports (no Python 3.12 here)"; exit 2; fi
say "PASSED: $ncalls calls fit 64 MiB each; from the parts alone, with no network, every wheel came back, installed and imported under Python $("$vpy" -c 'import sys; print(sys.version.split()[0])')"
