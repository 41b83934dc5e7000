"""Property-based tests: mutated real clips make the loader raise only MotionError, quickly."""
import json
import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepmimic_util import clip_path
from trpo_mimic.mimic.clip import MotionClip
from trpo_mimic.mimic.clipfile import MotionError

FUZZ = settings(max_examples=40, deadline=3000, suppress_health_check=[HealthCheck.function_scoped_fixture])


def load_or_motion_error(path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            clip = MotionClip.load(path)
        except MotionError:
            return
    # whatever loads must give finite poses
    import numpy as np
    assert np.isfinite(clip.qpos_at(0.37 * clip.duration)).all()


@FUZZ
@given(data=st.data())
def test_byte_mutations(tmp_path, data):
    raw = bytearray(clip_path("run").read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        i = data.draw(st.integers(0, len(raw) - 1))
        if op == "flip":
            raw[i] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del raw[i:i + data.draw(st.integers(1, 200))]
        else:
            raw[i:i] = data.draw(st.binary(min_size=1, max_size=20))
        if not raw:
            break
    p = tmp_path / "mutated.txt"
    p.write_bytes(bytes(raw))
    load_or_motion_error(p)


NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30),
                    st.just(0.0), st.just(-1.0), st.text(max_size=3), st.none(), st.lists(st.floats(), max_size=3))


@FUZZ
@given(data=st.data())
def test_number_mutations(tmp_path, data):
    doc = json.loads(clip_path("walk").read_text())
    frames = doc["Frames"]
    for _ in range(data.draw(st.integers(1, 5))):
        f = data.draw(st.integers(0, len(frames) - 1))
        j = data.draw(st.integers(0, 43))
        frames[f][j] = data.draw(NUMBERS)
    p = tmp_path / "numbers.txt"
    p.write_text(json.dumps(doc, allow_nan=True))
    load_or_motion_error(p)


@FUZZ
@given(data=st.data())
def test_shape_mutations(tmp_path, data):
    doc = json.loads(clip_path("jump").read_text())
    frames = doc["Frames"]
    op = data.draw(st.sampled_from(["drop_numbers", "add_numbers", "drop_frames", "loop", "frames_type", "nest"]))
    if op == "drop_numbers":
        f = data.draw(st.integers(0, len(frames) - 1))
        frames[f] = frames[f][: data.draw(st.integers(0, 43))]
    elif op == "add_numbers":
        f = data.draw(st.integers(0, len(frames) - 1))
        frames[f] = frames[f] + [0.0] * data.draw(st.integers(1, 5))
    elif op == "drop_frames":
        doc["Frames"] = frames[: data.draw(st.integers(0, 3))]
    elif op == "loop":
        doc["Loop"] = data.draw(st.one_of(st.text(max_size=6), st.integers(), st.none()))
    elif op == "frames_type":
        doc["Frames"] = data.draw(st.one_of(st.text(max_size=5), st.integers(), st.dictionaries(st.text(), st.integers())))
    else:
        f = data.draw(st.integers(0, len(frames) - 1))
        frames[f] = [frames[f]]
    p = tmp_path / "shape.txt"
    p.write_text(json.dumps(doc))
    load_or_motion_error(p)
