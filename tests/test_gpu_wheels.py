"""benchmarks/gpu_wheels.py (issue 43): cutting the wheels into device calls that fit 64 MiB, keeping and putting
them together again on the device, and the coverage of every need by carried wheels + the device's packages.
Pure logic on small files made here: no network, no device, no downloaded wheel."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_wheels as gw  # noqa: E402


def _files(sizes: dict[str, int], folder: Path, seed: int = 0) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, size in sizes.items():
        (folder / name).write_bytes(rng.randbytes(size))
    return list(sizes.items())


@pytest.mark.parametrize("sizes,capacity,extra", [
    ([250, 40, 0, 5], 100, 20),
    ([1000], 300, 0),
    ([10, 20, 30], 100, 40),
    ([300, 300], 100, 0),
    ([149_277_474, 9_684_944, 3_194_996, 2_455_251, 476_306, 108_623, 2_897], 34_456_000, 380_000),
])
def test_plan_calls_uses_the_fewest_calls_and_keeps_each_under_its_room(sizes, capacity, extra):
    files = [(f"f{i}.whl", s) for i, s in enumerate(sizes)]
    calls = gw.plan_calls(files, capacity, extra)
    assert len(calls) == max(1, math.ceil((sum(sizes) + extra) / capacity))
    for k, pieces in enumerate(calls, 1):
        load = sum(p.size for p in pieces) + (extra if k == len(calls) else 0)
        assert load <= capacity
        assert all(p.call == k for p in pieces)
    for name, size in files:  # each file: its pieces in order, back to back, the whole of it
        pieces = [p for c in calls for p in c if p.file == name]
        assert [p.index for p in pieces] == list(range(len(pieces)))
        assert all(p.count == len(pieces) for p in pieces)
        assert sum(p.size for p in pieces) == size
        assert [p.offset for p in pieces] == [sum(q.size for q in pieces[:i]) for i in range(len(pieces))]
        names = [p.name for p in pieces]
        assert names == ([name] if len(pieces) == 1 else [f"{name}.part{i + 1:02d}" for i in range(len(pieces))])


def test_plan_calls_refuses_a_call_without_room():
    with pytest.raises(ValueError, match="no room"):
        gw.plan_calls([("a", 10)], 0)
    with pytest.raises(ValueError, match="last call"):
        gw.plan_calls([("a", 10)], 100, 101)


def test_parts_kept_call_by_call_come_back_byte_for_byte(tmp_path):
    wheels = tmp_path / "wheels"
    files = _files({"big-1.0-py3-none-any.whl": 1000, "mid-2.0-py3-none-any.whl": 300, "tiny-0.1-py3-none-any.whl": 7},
                   wheels)
    calls = gw.plan_calls(files, 400, 50)
    manifest = gw.write_parts(wheels, calls, tmp_path / "parts")
    assert manifest["calls"] == len(calls) == 4
    stash = tmp_path / "device_tmp"
    for k in range(1, len(calls)):  # the early calls: each one keeps its parts
        r = gw.stash(tmp_path / "parts" / f"c{k}", stash)
        assert r["calls_held"] == list(range(1, k + 1)) and r["calls_missing"] == list(range(k + 1, len(calls) + 1))
    # the last call: the stash and its own folder
    out, missing = gw.assemble([stash, tmp_path / "parts" / f"c{len(calls)}"], tmp_path / "back")
    assert missing == []
    assert sorted(p.name for p in out) == sorted(n for n, _ in files)
    for name, _ in files:
        assert (tmp_path / "back" / name).read_bytes() == (wheels / name).read_bytes()


def test_a_fresh_machine_names_the_calls_to_make_again(tmp_path):
    wheels = tmp_path / "wheels"
    files = _files({"a-1-py3-none-any.whl": 900, "b-1-py3-none-any.whl": 50}, wheels)
    calls = gw.plan_calls(files, 400)
    gw.write_parts(wheels, calls, tmp_path / "parts")
    out, missing = gw.assemble([tmp_path / "empty_stash", tmp_path / "parts" / f"c{len(calls)}"], tmp_path / "back")
    assert out == [] and missing == list(range(1, len(calls)))
    assert not (tmp_path / "back").exists()


def test_stash_refuses_a_damaged_part_and_forgets_another_plan(tmp_path):
    wheels = tmp_path / "wheels"
    files = _files({"a-1-py3-none-any.whl": 500}, wheels)
    gw.write_parts(wheels, gw.plan_calls(files, 200), tmp_path / "p1")
    stash = tmp_path / "stash"
    gw.stash(tmp_path / "p1" / "c1", stash)
    part = tmp_path / "p1" / "c2" / "a-1-py3-none-any.whl.part02"
    part.write_bytes(b"x" + part.read_bytes()[1:])
    with pytest.raises(ValueError, match="sha256"):
        gw.stash(tmp_path / "p1" / "c2", stash)
    # another plan (other bytes): the old stash is emptied first, and a folder of the old plan is not used
    files = _files({"a-1-py3-none-any.whl": 500}, tmp_path / "wheels2", seed=1)
    gw.write_parts(tmp_path / "wheels2", gw.plan_calls(files, 200), tmp_path / "p2")
    r = gw.stash(tmp_path / "p2" / "c1", stash)
    assert r["calls_held"] == [1] and sorted(os.listdir(stash)) == ["a-1-py3-none-any.whl.part01", "manifest.json"]
    _, missing = gw.assemble([stash, tmp_path / "p1" / "c2", tmp_path / "p2" / "c3"], tmp_path / "back")
    assert missing == [2]


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_tree_size_counts_what_travels(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text("/.whl/\n")
    (tmp_path / "tracked.py").write_bytes(b"a" * 1000)
    _git(tmp_path, "add", ".gitignore", "tracked.py")
    (tmp_path / "new.txt").write_bytes(b"b" * 300)           # untracked, not ignored: travels
    (tmp_path / ".whl").mkdir()
    (tmp_path / ".whl" / "w.whl").write_bytes(b"c" * 5000)  # ignored: only when carried
    os.symlink("tracked.py", tmp_path / "link")              # travels as a link
    expected = 1000 + 300 + len("/.whl/\n") + len("tracked.py")
    assert gw.tree_size(tmp_path) == expected
    assert gw.dir_size(tmp_path / ".whl") == 5000
    copied = gw.copy_tree(tmp_path, tmp_path / "copy")
    assert copied == expected and os.path.islink(tmp_path / "copy" / "link")
    assert not (tmp_path / "copy" / ".whl").exists()


def test_make_plan_keeps_tree_and_parts_under_the_limit(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text("/.whl/\n/.gl/\n")
    (tmp_path / "src.bin").write_bytes(b"s" * 3000)
    _git(tmp_path, "add", ".")
    _files({"warp_lang-1.19.0-py3-none-any.whl": 9000, "mujoco-4.0.1-py3-none-any.whl": 700}, tmp_path / ".whl/wheels")
    (tmp_path / ".gl").mkdir()
    (tmp_path / ".gl" / "libegl1.deb").write_bytes(b"g" * 400)
    limit = 3000 + len("/.whl/\n/.gl/\n") + 64 * 1024 + 100 + 3500
    plan = gw.make_plan(tmp_path, tmp_path / ".whl/wheels", tmp_path / ".whl/parts", [".gl", ".missing"], margin=100,
                        limit=limit)
    calls = plan["calls"]
    assert plan["capacity_bytes"] == 3500 and len(calls) == math.ceil((9700 + 400) / 3500)
    for c in calls[:-1]:
        assert c["carry"] == [f".whl/parts/c{c['call']}"] and c["command"].endswith(f"stash .whl/parts/c{c['call']}")
    assert calls[-1]["carry"] == [f".whl/parts/c{len(calls)}", ".gl"]
    assert calls[-1]["command"] == f"bash benchmarks/gpu_check.sh run .whl/parts/c{len(calls)}"
    assert all(c["total_bytes"] <= limit - 100 for c in calls)
    assert "TOO LARGE" not in gw.format_plan(plan)
    _files({"warp_lang-1.18.0-py3-none-any.whl": 10}, tmp_path / ".whl/wheels")
    with pytest.raises(ValueError, match="two versions of warp-lang"):
        gw.make_plan(tmp_path, tmp_path / ".whl/wheels", tmp_path / ".whl/parts", margin=100, limit=limit)
    assert gw.prune(tmp_path / ".whl/wheels", ["warp-lang==1.19.0", "mujoco==4.0.1"]) == [
        "warp_lang-1.18.0-py3-none-any.whl"]


def _wheel(folder: Path, name: str, version: str, requires: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires) + "\nRequires-Dist: in-the-description\n"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name.replace('-', '_')}-{version}.dist-info/METADATA", meta)
    return path


def test_metadata_and_device_stand_ins(tmp_path):
    w = _wheel(tmp_path, "Mujoco_Warp", "4.0.0", ["numpy", "etils[epath]", "warp-lang>=1.15",
                                                  "pytest; extra == 'dev'", "old; python_version < '3.8'"])
    d = gw.wheel_metadata(w)
    assert (d.name, d.version) == ("mujoco-warp", "4.0.0") and "in-the-description" not in d.requires
    assert [str(r) for r in gw.needs(d)] == ["numpy", "etils[epath]", "warp-lang>=1.15"]
    assert gw.base_requirements(tmp_path) == ["etils[epath]", "numpy==" + gw.DEVICE_VERSIONS["numpy"]]


def test_closure_finds_what_is_neither_carried_nor_on_the_device():
    carried = {"a": gw.Dist("a", "1.0", ["b>=2", "numpy", "c; extra == 'x'", "e[epath]", "s"]),
               "b": gw.Dist("b", "2.1", ["a==1.0"])}
    known = {"e": gw.Dist("e", "1", ["fsspec; extra == 'epath'", "nothere; extra == 'epath'", "other; extra == 'y'"])}
    problems, notes = gw.closure_problems(carried, known, [], device=frozenset({"numpy", "e", "fsspec"}),
                                          skipped={"s": "not needed"})
    assert problems == ["e[epath] needs nothere; extra == \"epath\": neither carried nor on the device"]
    assert notes == ["a names s: not carried on purpose: not needed"]
    Requirement, _ = gw._packaging()
    problems, _ = gw.closure_problems(carried, known, [("pyproject.toml", Requirement("b>=3"))],
                                      device=frozenset({"numpy", "e", "fsspec", "nothere"}), skipped={"s": ""})
    assert problems == ["pyproject.toml needs b>=3, but b 2.1 is carried"]


def test_every_import_of_the_check_is_carried_or_on_the_device():
    """The check's code (src/trpo_mimic and the benchmarks it runs) imports only what the device has or the plan
    carries, or what is skipped on purpose: a new import of another package would stop the check there."""
    problems, notes = gw.import_problems(ROOT, {n for n, _ in gw.CARRIED})
    assert problems == []
    assert all("not carried on purpose" in n for n in notes)


def test_the_scripts_parse():
    for script in ("gpu_prepare.sh", "gpu_check.sh", "gpu_dry_run.sh"):
        subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / script)], check=True)
