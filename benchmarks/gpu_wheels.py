"""The wheels that the GPU check (issue 43) carries to the lent device machine, and how they travel there.

That machine (the `device` tool's notes, README.md and KINDS.md of its library entry) has Python 3.12 at
`python3` with torch 2.11 for CUDA 13 and the packages in DEVICE_PACKAGES, no network at all, and takes at most
64 MiB a call: the working tree (tracked and untracked-not-ignored files, shared/) plus the ignored paths that the
call carries. What is missing there (CARRIED) must travel as wheels, and warp-lang's alone weighs 149 MB: the
wheels are cut into parts, each call carries one folder of them (.whl/parts/cK), the device keeps them under /tmp
between calls (a machine stays warm 30 s after a call), and the last call puts the wheels together again, checks
every byte against the sha256 sums of manifest.json, installs them and runs the check.

    python benchmarks/gpu_wheels.py tree-size [--root R]      bytes of what travels with every call
    python benchmarks/gpu_wheels.py plan --wheels .whl/wheels --parts .whl/parts [--last-extra .gl] ...
                                                              cut the wheels into per-call folders, write the plan
    python benchmarks/gpu_wheels.py stash PARTS_DIR STASH_DIR   (device) keep one call's parts, each one checked
    python benchmarks/gpu_wheels.py assemble --into DIR SEARCH_DIR...
                                                              (device) rebuild the wheels, or name the calls missing
    python benchmarks/gpu_wheels.py base-reqs --wheels DIR    the device packages that the carried wheels need
    python benchmarks/gpu_wheels.py check --wheels DIR [--base DIR] [--root R]
                                                              carried + device + skipped on purpose cover every need
    python benchmarks/gpu_wheels.py copy-tree SRC DST         copy what travels (the dry run's device tree)

Only the standard library at import: the device runs `stash` and `assemble` with its own python3 before anything
is installed. `check` and `base-reqs` read requirements with `packaging` (or pip's own copy of it).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

MIB = 1 << 20
CALL_LIMIT = 64 * MIB
"""What one device call may move: working tree + carried paths (the tool's limit)."""
DEFAULT_MARGIN = 2 * MIB
"""Kept free in every call, for files that the other engineers add between the plan and the calls."""
DEVICE_PYTHON = "3.12"
STASH_CALL_TIMEOUT_S = 120
RUN_CALL_TIMEOUT_S = 540
PIP_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
                 "manylinux1_x86_64")
"""The `pip download --platform` flags that the device tool's README gives for that machine."""

CARRIED = (
    ("warp-lang", "1.19.0"),
    ("mujoco-core", "4.0.1"),
    ("mujoco-warp", "4.0.0"),
    ("pyopengl", "3.1.10"),
    ("gymnasium", "1.4.0"),
    ("mujoco", "4.0.1"),
    ("farama-notifications", "0.0.6"),
)
"""Missing on the device and needed by the check; the versions that the project's tests run here."""

SKIPPED = {
    "mujoco-studio": "MuJoCo's viewer app (mujoco.studio); `import mujoco`, its physics and its EGL renderer are "
                     "mujoco-core's",
    "websockets": "needed by mujoco-studio alone",
    "glfw": "windowed OpenGL; the check renders off-screen (MUJOCO_GL=egl)",
    "imageio-ffmpeg": "the mp4 encoder: a 68 MB wheel, two more calls; the check writes a gif through pillow instead "
                      "(GPU_EXTRA_WHEELS=imageio-ffmpeg==0.8.1 benchmarks/gpu_prepare.sh carries it)",
    "pygame-ce": "gymnasium's classic-control rendering; the check runs no classic-control env",
    "pygame": "the same, in older gymnasium releases",
    "ale-py": "Atari (the 'atari' extra); not on the check's path",
    "wandb": "the optional --wandb logger; the check does not use it",
    "viser": "the browser viewer (`trpo-mimic view`, the 'viewer' extra); the check serves no viewer",
}
"""Required somewhere but not needed by the check, each with its reason."""

DEVICE_PACKAGES = frozenset("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna
imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime
nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13
nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft
pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope
triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl
zipp
""".split())
"""Installed on the device image 'cuda' (KINDS.md, read there on 2026-11-17)."""
DEVICE_VERSIONS = {"numpy": "2.5.2", "torch": "2.11.0", "jax": "0.11.2"}
"""Versions seen there (KINDS.md's pip list); the dry run's stand-ins take these where known."""

MODULE_DIST = {"PIL": "pillow", "yaml": "pyyaml", "cv2": "opencv-python-headless", "OpenGL": "pyopengl",
               "mujoco_warp": "mujoco-warp", "warp": "warp-lang", "ale_py": "ale-py", "absl": "absl-py",
               "imageio_ffmpeg": "imageio-ffmpeg", "farama_notifications": "farama-notifications",
               "sklearn": "scikit-learn", "skimage": "scikit-image", "google": "protobuf"}
"""Import names whose distribution is named otherwise."""
CHECK_SOURCES = ("src/trpo_mimic", "benchmarks/warp_speed.py", "benchmarks/call_timer.py")
"""What the check imports: the package and the two benchmark modules it runs."""
IMPORT_CHECK = ("mujoco", "mujoco_warp", "warp", "gymnasium", "OpenGL", "farama_notifications",
                "trpo_mimic.mimic.warp_physics", "trpo_mimic.mimic.vector")
"""Imported after the install, on the device and in the dry run (none of them needs torch)."""


def norm(name: str) -> str:
    """A distribution's name as the registries compare it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_name(filename: str) -> str:
    return norm(Path(filename).name.split("-")[0])


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def mib(n: int) -> str:
    return f"{n / MIB:.2f} MiB"


# --- what travels ------------------------------------------------------------------------------------------------

def _git_files(root: Path, *args: str) -> list[str]:
    out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", *args], check=True, capture_output=True).stdout
    return [f for f in out.decode().split("\0") if f]


def travelling_files(root: str | Path) -> list[str]:
    """The working tree that every device call moves: tracked files that exist, untracked files that git does not
    ignore, and everything under shared/ where the checkout has one (paths relative to root)."""
    root = Path(root)
    names = dict.fromkeys(_git_files(root) + _git_files(root, "--others", "--exclude-standard"))
    if (root / "shared").is_dir():
        for dirpath, _, files in os.walk(root / "shared"):
            for f in files:
                names[str((Path(dirpath) / f).relative_to(root))] = None
    return [n for n in names if os.path.lexists(root / n)]


def tree_size(root: str | Path) -> int:
    """Bytes of the working tree that travels with every call (a link counts as a link)."""
    root = Path(root)
    return sum(os.lstat(root / n).st_size for n in travelling_files(root))


def dir_size(path: str | Path) -> int:
    """Bytes of the files under path (a link as a link); 0 when it is not there."""
    path = Path(path)
    if not os.path.lexists(path):
        return 0
    if not path.is_dir() or path.is_symlink():
        return os.lstat(path).st_size
    return sum(os.lstat(Path(d) / f).st_size for d, _, files in os.walk(path) for f in files)


def copy_tree(src: str | Path, dst: str | Path) -> int:
    """Copy what travels from the checkout src to dst (links stay links); the bytes copied."""
    src, dst = Path(src), Path(dst)
    total = 0
    for n in travelling_files(src):
        s, d = src / n, dst / n
        d.parent.mkdir(parents=True, exist_ok=True)
        if s.is_symlink():
            os.symlink(os.readlink(s), d)
        else:
            shutil.copy2(s, d)
        total += os.lstat(s).st_size
    return total


# --- cutting the wheels into calls ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Piece:
    file: str
    index: int      # its place among the file's pieces, from 0
    count: int      # how many pieces the file has
    offset: int
    size: int
    call: int       # from 1

    @property
    def name(self) -> str:
        """A file in one piece keeps its name; a cut one's pieces are FILE.part01, FILE.part02, ..."""
        return self.file if self.count == 1 else f"{self.file}.part{self.index + 1:02d}"


def plan_calls(files: list[tuple[str, int]], capacity: int, last_extra: int = 0) -> list[list[Piece]]:
    """Cut files (name, bytes), in their order, into calls of at most `capacity` bytes each, the last one
    `last_extra` bytes less (what it carries besides: the GL loaders). Every call but the last is full, so the
    number of calls is the least possible: ceil((total + last_extra) / capacity)."""
    if capacity <= 0:
        raise ValueError(f"no room for parts in a call: capacity {capacity} bytes (the working tree is too large)")
    if last_extra > capacity:
        raise ValueError(f"the last call's own load ({last_extra} bytes) exceeds a call's room ({capacity} bytes)")
    total = sum(size for _, size in files)
    ncalls = max(1, math.ceil((total + last_extra) / capacity))
    spans: list[list[tuple[str, int, int, int]]] = [[] for _ in range(ncalls)]  # (file, offset, size, call)
    call, room = 1, capacity
    for name, size in files:
        offset = 0
        while True:
            if room == 0 and offset < size:
                call, room = call + 1, capacity
            take = min(room, size - offset)
            spans[call - 1].append((name, offset, take, call))
            offset, room = offset + take, room - take
            if offset >= size:
                break
    counts: dict[str, int] = {}
    for span in spans:
        for name, *_ in span:
            counts[name] = counts.get(name, 0) + 1
    seen: dict[str, int] = {}
    calls = []
    for span in spans:
        pieces = []
        for name, offset, size, c in span:
            pieces.append(Piece(name, seen.get(name, 0), counts[name], offset, size, c))
            seen[name] = seen.get(name, 0) + 1
        calls.append(pieces)
    return calls


def write_parts(wheels_dir: str | Path, calls: list[list[Piece]], parts_root: str | Path) -> dict:
    """Write each call's pieces into parts_root/cK and the manifest (every wheel's size and sha256, every piece's
    call, size and sha256) into each cK/manifest.json; returns the manifest."""
    wheels_dir, parts_root = Path(wheels_dir), Path(parts_root)
    wheels: dict[str, dict] = {}
    for k, pieces in enumerate(calls, 1):
        folder = parts_root / f"c{k}"
        folder.mkdir(parents=True, exist_ok=True)
        for p in pieces:
            with open(wheels_dir / p.file, "rb") as f:
                f.seek(p.offset)
                data = f.read(p.size)
            if len(data) != p.size:
                raise OSError(f"{p.file} is shorter than planned")
            (folder / p.name).write_bytes(data)
            w = wheels.setdefault(p.file, {"name": p.file, "size": os.path.getsize(wheels_dir / p.file),
                                           "sha256": sha256_file(wheels_dir / p.file), "parts": []})
            w["parts"].append({"name": p.name, "call": k, "offset": p.offset, "size": p.size,
                               "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"calls": len(calls), "wheels": sorted(wheels.values(), key=lambda w: w["name"])}
    manifest["id"] = hashlib.sha256(json.dumps(manifest["wheels"], sort_keys=True).encode()).hexdigest()[:16]
    for k in range(1, len(calls) + 1):
        (parts_root / f"c{k}" / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def _parts(manifest: dict):
    for w in manifest["wheels"]:
        for p in w["parts"]:
            yield w, p


def stash(parts_dir: str | Path, stash_dir: str | Path) -> dict:
    """Copy one call's parts into stash_dir (on the device: a folder under /tmp that the next call finds if it
    comes while the machine is warm), each checked against the manifest; a stash of another plan is emptied first.
    Returns {'added': [...], 'calls_held': [...], 'calls_missing': [...]}."""
    parts_dir, stash_dir = Path(parts_dir), Path(stash_dir)
    manifest = json.loads((parts_dir / "manifest.json").read_text())
    old = stash_dir / "manifest.json"
    if old.exists() and json.loads(old.read_text()).get("id") != manifest["id"]:
        shutil.rmtree(stash_dir)
    stash_dir.mkdir(parents=True, exist_ok=True)
    added = []
    for _, p in _parts(manifest):
        src = parts_dir / p["name"]
        if not src.exists():
            continue
        if os.path.getsize(src) != p["size"] or sha256_file(src) != p["sha256"]:
            raise ValueError(f"{src}: not the part the manifest names (size or sha256 differ)")
        tmp = stash_dir / (p["name"] + ".tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, stash_dir / p["name"])
        added.append(p["name"])
    shutil.copyfile(parts_dir / "manifest.json", stash_dir / "manifest.json")
    held = held_calls(manifest, [stash_dir])
    return {"added": added, **held}


def _find_part(p: dict, search: list[Path]) -> Path | None:
    for d in search:
        f = d / p["name"]
        if f.exists() and os.path.getsize(f) == p["size"] and sha256_file(f) == p["sha256"]:
            return f
    return None


def held_calls(manifest: dict, search: list[str | Path]) -> dict:
    """Which calls' parts are all found (checked) in the search folders, and which are not."""
    search = [Path(s) for s in search]
    missing = sorted({p["call"] for _, p in _parts(manifest) if _find_part(p, search) is None})
    return {"calls_held": [k for k in range(1, manifest["calls"] + 1) if k not in missing], "calls_missing": missing}


def find_manifest(search: list[str | Path]) -> dict | None:
    for d in search:
        f = Path(d) / "manifest.json"
        if f.exists():
            return json.loads(f.read_text())
    return None


def assemble(search: list[str | Path], into: str | Path) -> tuple[list[Path], list[int]]:
    """Put every wheel of the manifest (the first one found in the search folders) together in `into` from its
    parts, found in any search folder; each part and each wheel checked by sha256. Returns (wheels, calls whose
    parts are missing); nothing is written when a part is missing."""
    search = [Path(s) for s in search]
    manifest = find_manifest(search)
    if manifest is None:
        raise FileNotFoundError(f"no manifest.json in {', '.join(map(str, search))}")
    search = [d for d in search if not (d / "manifest.json").exists()
              or json.loads((d / "manifest.json").read_text()).get("id") == manifest["id"]]
    found, missing = {}, set()
    for _, p in _parts(manifest):
        f = _find_part(p, search)
        if f is None:
            missing.add(p["call"])
        found[p["name"]] = f
    if missing:
        return [], sorted(missing)
    into = Path(into)
    into.mkdir(parents=True, exist_ok=True)
    out = []
    for w in manifest["wheels"]:
        dest = into / w["name"]
        with open(dest, "wb") as o:
            for p in sorted(w["parts"], key=lambda p: p["offset"]):
                with open(found[p["name"]], "rb") as i:
                    shutil.copyfileobj(i, o, 1 << 22)
        if os.path.getsize(dest) != w["size"] or sha256_file(dest) != w["sha256"]:
            raise ValueError(f"{dest}: put together, its sha256 is not the manifest's")
        out.append(dest)
    return out, []


def prune(wheels_dir: str | Path, wanted: list[str]) -> list[str]:
    """Remove the wheels of wheels_dir that no NAME==VERSION of `wanted` names (an older download): one version
    of each, or the install stops. Returns the names removed."""
    keep = set()
    for w in wanted:
        name, _, version = w.partition("==")
        keep.add((norm(name), version))
    removed = []
    for f in sorted(Path(wheels_dir).glob("*.whl")):
        parts = f.name.split("-")
        if (wheel_name(f.name), parts[1] if len(parts) > 1 else "") not in keep:
            f.unlink()
            removed.append(f.name)
    return removed


# --- the plan -------------------------------------------------------------------------------------------------------

def make_plan(root: str | Path, wheels_dir: str | Path, parts_root: str | Path, last_extra: list[str] = (),
              margin: int = DEFAULT_MARGIN, limit: int = CALL_LIMIT) -> dict:
    """Measure the tree, cut the wheels of wheels_dir (largest first) into calls, write the parts and return the
    plan: each call's carry, command, timeout and bytes (tree, carried, total)."""
    root, wheels_dir, parts_root = Path(root), Path(wheels_dir), Path(parts_root)
    files = sorted(((f.name, f.stat().st_size) for f in wheels_dir.glob("*.whl")), key=lambda x: (-x[1], x[0]))
    names = [wheel_name(f) for f, _ in files]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"two versions of {', '.join(twice)} in {wheels_dir}: one each, or the install stops")
    extra_paths = [e for e in last_extra if os.path.lexists(root / e)]
    extra = sum(dir_size(root / e) for e in extra_paths)
    manifest_room = 64 * 1024  # manifest.json, in every call
    tree = tree_size(root)
    capacity = limit - margin - tree - manifest_room
    calls = plan_calls(files, capacity, extra)
    if parts_root.exists():
        shutil.rmtree(parts_root)
    manifest = write_parts(wheels_dir, calls, parts_root)
    rel_parts = os.path.relpath(parts_root, root)
    rows = []
    for k in range(1, len(calls) + 1):
        last = k == len(calls)
        carry = [f"{rel_parts}/c{k}"] + (extra_paths if last else [])
        carried = sum(dir_size(root / c) for c in carry)
        verb = "run" if last else "stash"
        rows.append({"call": k, "carry": carry, "command": f"bash benchmarks/gpu_check.sh {verb} {rel_parts}/c{k}",
                     "timeout_s": RUN_CALL_TIMEOUT_S if last else STASH_CALL_TIMEOUT_S,
                     "tree_bytes": tree, "carry_bytes": carried, "total_bytes": tree + carried,
                     "pieces": [p.name for p in calls[k - 1]]})
    return {"limit_bytes": limit, "margin_bytes": margin, "tree_bytes": tree, "capacity_bytes": capacity,
            "wheels": [{"name": n, "bytes": s} for n, s in files], "wheel_bytes": sum(s for _, s in files),
            "manifest_id": manifest["id"], "calls": rows}


def format_plan(plan: dict) -> str:
    calls = plan["calls"]
    lines = [f"tree (tracked + untracked-not-ignored) {mib(plan['tree_bytes'])}; wheels {mib(plan['wheel_bytes'])} "
             f"in {len(plan['wheels'])} files; room for parts per call {mib(plan['capacity_bytes'])} "
             f"(64 MiB less the tree, a {mib(plan['margin_bytes'])} margin and the manifest)"]
    for w in plan["wheels"]:
        lines.append(f"  {w['name']}: {mib(w['bytes'])}")
    lines.append(f"{len(calls)} device calls, back to back (each within 30 s of the last one's reply):")
    for c in calls:
        ok = "fits" if c["total_bytes"] <= plan["limit_bytes"] else "TOO LARGE"
        lines.append(f"call {c['call']}: tree {mib(c['tree_bytes'])} + carried {mib(c['carry_bytes'])} = "
                     f"{mib(c['total_bytes'])} of 64 MiB ({ok}); parts: {', '.join(c['pieces'])}")
        lines.append("  run " + json.dumps({"carry": c["carry"], "command": c["command"],
                                           "timeout_s": c["timeout_s"]}))
    return "\n".join(lines)


# --- requirements: carried + device + skipped cover everything ----------------------------------------------------

def _packaging():
    try:
        from packaging.markers import Marker
        from packaging.requirements import Requirement
    except ImportError:  # a bare venv: pip's own copy
        from pip._vendor.packaging.markers import Marker
        from pip._vendor.packaging.requirements import Requirement
    return Requirement, Marker


DEVICE_ENV = {"python_version": DEVICE_PYTHON, "python_full_version": DEVICE_PYTHON + ".3", "os_name": "posix",
              "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
              "platform_python_implementation": "CPython", "implementation_name": "cpython",
              "implementation_version": DEVICE_PYTHON + ".3", "platform_release": "", "platform_version": ""}


@dataclass
class Dist:
    name: str
    version: str
    requires: list[str]


def read_metadata(text: str) -> Dist:
    name = version = ""
    requires = []
    for line in text.splitlines():
        if not line.strip():
            break  # the headers end at the first empty line
        key, _, value = line.partition(":")
        if key == "Name":
            name = value.strip()
        elif key == "Version":
            version = value.strip()
        elif key == "Requires-Dist":
            requires.append(value.strip())
    return Dist(norm(name), version, requires)


def wheel_metadata(path: str | Path) -> Dist:
    with zipfile.ZipFile(path) as z:
        meta = [n for n in z.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        return read_metadata(z.read(meta[0]).decode())


def needs(dist: Dist, extras: set[str] = frozenset()) -> list:
    """dist's requirements that apply on the device (markers read there), its `extras` included."""
    Requirement, _ = _packaging()
    out = []
    for r in map(Requirement, dist.requires):
        if r.marker is None or any(r.marker.evaluate({**DEVICE_ENV, "extra": e}) for e in ({""} | set(extras))):
            out.append(r)
    return out


def closure_problems(carried: dict[str, Dist], known: dict[str, Dist], roots: list[tuple[str, object]],
                     device: frozenset[str] = DEVICE_PACKAGES, skipped: dict[str, str] = SKIPPED) -> tuple[list, list]:
    """Follow every requirement from roots ((who, Requirement)) and from each carried wheel: each must be carried
    (at a version its specifier allows), on the device, or skipped on purpose. `known` lends metadata (the dry run's
    stand-ins) to follow a device package's extras. Returns (problems, notes)."""
    problems, notes = [], []
    todo = list(roots) + [(n, r) for n, d in carried.items() for r in needs(d)]
    done = set()
    while todo:
        who, req = todo.pop()
        name, extras = norm(req.name), frozenset(req.extras)
        key = (who, name, extras, str(req.specifier))
        if key in done:
            continue
        done.add(key)
        if name in carried:
            d = carried[name]
            if req.specifier and not req.specifier.contains(d.version, prereleases=True):
                problems.append(f"{who} needs {req}, but {d.name} {d.version} is carried")
            if extras:
                todo += [(f"{name}[{','.join(sorted(extras))}]", r) for r in needs(d, extras)]
        elif name in device:
            if extras and name in known:
                todo += [(f"{name}[{','.join(sorted(extras))}]", r) for r in needs(known[name], extras)]
            elif extras:
                notes.append(f"{who}: {req} is on the device; its extras were not followed (no metadata here)")
        elif name in skipped:
            notes.append(f"{who} names {name}: not carried on purpose: {skipped[name]}")
        else:
            problems.append(f"{who} needs {req}: neither carried nor on the device")
    return problems, sorted(set(notes))


def imported_modules(paths: list[str | Path]) -> dict[str, set[str]]:
    """Top-level modules imported anywhere in the given files and folders (at module level or inside functions)."""
    found: dict[str, set[str]] = {}
    files = []
    for p in map(Path, paths):
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            else:
                continue
            for m in mods:
                found.setdefault(m.split(".")[0], set()).add(str(f))
    return found


def import_problems(root: str | Path, carried: set[str], device: frozenset[str] = DEVICE_PACKAGES,
                    skipped: dict[str, str] = SKIPPED) -> tuple[list, list]:
    """Every third-party module that the check's code imports comes from a carried wheel or the device, or is
    skipped on purpose (a feature off the check's path)."""
    root = Path(root)
    local = {p.stem for p in (root / "benchmarks").glob("*.py")} | {p.name for p in (root / "src").iterdir()}
    problems, notes = [], []
    for mod, where in sorted(imported_modules([root / s for s in CHECK_SOURCES]).items()):
        if mod in sys.stdlib_module_names or mod in local or mod == "__future__":
            continue
        dist = MODULE_DIST.get(mod, norm(mod))
        if dist in carried or dist in device:
            continue
        first = os.path.relpath(sorted(where)[0], root)
        if dist in skipped:
            notes.append(f"import {mod} ({first}): not carried on purpose: {skipped[dist]}")
        else:
            problems.append(f"import {mod} ({first}): {dist} is neither carried nor on the device")
    return problems, notes


def pyproject_roots(root: str | Path) -> list:
    """The project's dependencies and its gpu extra, as requirements that apply on the device."""
    import tomllib
    Requirement, _ = _packaging()
    project = tomllib.loads((Path(root) / "pyproject.toml").read_text())["project"]
    reqs = list(project.get("dependencies", [])) + list(project.get("optional-dependencies", {}).get("gpu", []))
    out = []
    for r in map(Requirement, reqs):
        if norm(r.name) == norm(project["name"]):
            continue
        if r.marker is None or r.marker.evaluate({**DEVICE_ENV, "extra": ""}):
            out.append(("pyproject.toml", r))
    return out


def check(wheels_dir: str | Path, base_dir: str | Path | None, root: str | Path) -> tuple[list, list]:
    carried: dict[str, Dist] = {}
    problems = []
    for w in sorted(Path(wheels_dir).glob("*.whl")):
        d = wheel_metadata(w)
        if d.name in carried:
            problems.append(f"two versions of {d.name} carried: the install would stop")
        if d.name in DEVICE_PACKAGES:
            problems.append(f"{d.name} is carried but the device has it: carry one only for another version")
        carried[d.name] = d
    known = {}
    if base_dir:
        for w in sorted(Path(base_dir).glob("*.whl")):
            d = wheel_metadata(w)
            known[d.name] = d
            if d.name not in DEVICE_PACKAGES:
                problems.append(f"stand-in {w.name} is not on the device: the dry run would prove too little")
    p1, n1 = closure_problems(carried, known, pyproject_roots(root))
    p2, n2 = import_problems(root, set(carried))
    return problems + p1 + p2, sorted(set(n1 + n2))


def base_requirements(wheels_dir: str | Path) -> list[str]:
    """The device's packages that the carried wheels need, as pip requirements (device versions where known):
    what the dry run installs to stand for the device's python."""
    extras_of: dict[str, set[str]] = {}
    for w in sorted(Path(wheels_dir).glob("*.whl")):
        for r in needs(wheel_metadata(w)):
            if norm(r.name) in DEVICE_PACKAGES:
                extras_of.setdefault(norm(r.name), set()).update(r.extras)
    reqs = []
    for name, extras in sorted(extras_of.items()):
        pin = f"=={DEVICE_VERSIONS[name]}" if name in DEVICE_VERSIONS else ""
        reqs.append(name + (f"[{','.join(sorted(extras))}]" if extras else "") + pin)
    return reqs


# --- command line ---------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("tree-size")
    p.add_argument("--root", default=".")
    p = sub.add_parser("plan")
    p.add_argument("--root", default=".")
    p.add_argument("--wheels", default=".whl/wheels")
    p.add_argument("--parts", default=".whl/parts")
    p.add_argument("--last-extra", nargs="*", default=[".gl"], help="paths the last call carries besides its parts")
    p.add_argument("--margin-mib", type=float, default=DEFAULT_MARGIN / MIB)
    p.add_argument("--json", default=".whl/plan.json")
    p = sub.add_parser("stash")
    p.add_argument("parts_dir")
    p.add_argument("stash_dir")
    p = sub.add_parser("assemble")
    p.add_argument("--into", required=True)
    p.add_argument("search", nargs="+")
    p = sub.add_parser("carried", help="NAME==VERSION of each carried wheel")
    p = sub.add_parser("prune")
    p.add_argument("--wheels", default=".whl/wheels")
    p.add_argument("wanted", nargs="+")
    p = sub.add_parser("base-reqs")
    p.add_argument("--wheels", default=".whl/wheels")
    p = sub.add_parser("check")
    p.add_argument("--wheels", required=True)
    p.add_argument("--base")
    p.add_argument("--root", default=".")
    p = sub.add_parser("copy-tree")
    p.add_argument("src")
    p.add_argument("dst")
    p = sub.add_parser("size")
    p.add_argument("paths", nargs="+")
    a = ap.parse_args(argv)

    if a.cmd == "tree-size":
        print(tree_size(a.root))
    elif a.cmd == "plan":
        plan = make_plan(a.root, a.wheels, a.parts, a.last_extra, int(a.margin_mib * MIB))
        Path(a.json).write_text(json.dumps(plan, indent=1) + "\n")
        print(format_plan(plan))
        return 0 if all(c["total_bytes"] <= plan["limit_bytes"] for c in plan["calls"]) else 1
    elif a.cmd == "stash":
        r = stash(a.parts_dir, a.stash_dir)
        print(f"stashed {len(r['added'])} parts in {a.stash_dir}; calls held {r['calls_held']}, "
              f"still to come {r['calls_missing']}")
    elif a.cmd == "assemble":
        wheels, missing = assemble(a.search, a.into)
        if missing:
            print(f"parts of calls {', '.join(map(str, missing))} are missing (not carried, or the machine went back "
                  f"between calls and took /tmp with it): make those calls again, back to back, then the last one",
                  file=sys.stderr)
            return 3
        for w in wheels:
            print(f"{w.name} {mib(w.stat().st_size)} sha256 ok")
    elif a.cmd == "carried":
        print(" ".join(f"{n}=={v}" for n, v in CARRIED))
    elif a.cmd == "prune":
        for name in prune(a.wheels, a.wanted):
            print(f"removed {name}: not in the wanted list")
    elif a.cmd == "base-reqs":
        print("\n".join(base_requirements(a.wheels)))
    elif a.cmd == "check":
        problems, notes = check(a.wheels, a.base, a.root)
        for n in notes:
            print("note:", n)
        for p in problems:
            print("PROBLEM:", p)
        print("requirements: every need is carried or on the device" if not problems
              else f"requirements: {len(problems)} problems")
        return 1 if problems else 0
    elif a.cmd == "copy-tree":
        print(copy_tree(a.src, a.dst))
    elif a.cmd == "size":
        print(sum(dir_size(x) for x in a.paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
