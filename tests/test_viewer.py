"""`trpo-mimic view`: the live viewer (viser), checked in a real headless Chromium driven over the DevTools
protocol: the page draws the character and its ghost, the page's own controls push it and switch its skill, a
reloaded page (a new connection) sees the running scene; and the server-side controls (pause, speed, reset,
camera follow, ghost), the shapes, and the command line (Ctrl-C, no viser, bad flags)."""
from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from trpo_mimic.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None and os.environ.get("CI") != "true",
                                    reason="no chromium here (`make test` installs Debian's; in CI its absence fails)")
SRC = Path(__file__).resolve().parents[1] / "src"


def until(check, timeout: float, what: str):
    """Poll ``check()`` until it returns something true (returned) or ``timeout`` seconds pass (a failure)."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.1)


class Browser:
    """Headless Chromium (software WebGL) and one page of it, driven over the DevTools protocol."""

    def __init__(self, profile: Path, width: int = 1000, height: int = 700):
        from websockets.sync.client import connect  # websockets comes with viser
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", f"--window-size={width},{height}",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port_file = profile / "DevToolsActivePort"
            until(lambda: port_file.exists() and len(port_file.read_text().split()) >= 2, 30, "chromium started")
            port = port_file.read_text().split()[0]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                page = next(t for t in json.load(r) if t["type"] == "page")
            self.ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            raise
        self.n = 0
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def call(self, method: str, **params) -> dict:
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv(timeout=30))
            if reply.get("id") == self.n:  # events in between are not asked for here
                assert "error" not in reply, reply
                return reply["result"]

    def js(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def text(self) -> str:
        return self.js("document.body ? document.body.innerText : ''") or ""

    def screenshot(self) -> np.ndarray:
        import imageio.v3 as iio
        png = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        return iio.imread(io.BytesIO(png))[..., :3].astype(np.int32)

    def click(self, selector: str, text: str) -> bool:
        """Click the element matching ``selector`` whose text (or value) is ``text``, as a user would."""
        return bool(self.js(f"""(() => {{
            const e = [...document.querySelectorAll({json.dumps(selector)})]
                .find(e => (e.innerText || e.value || '').trim() === {json.dumps(text)});
            if (!e) return false;
            e.click();
            return true;
        }})()"""))

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def colours(image: np.ndarray) -> tuple[int, int]:
    """Pixels of the character's orange and of the ghost's blue in the middle of the picture (the character
    stands there while the camera follows it; the GUI panel and the browser's notices lie outside)."""
    h, w = image.shape[:2]
    r, g, b = np.moveaxis(image[h // 8: h * 7 // 8, w * 3 // 10: w * 7 // 10], -1, 0)
    orange = (r > 120) & (r > g + 40) & (g > b + 15)
    blue = (b > r + 25) & (b > g + 5)
    return int(orange.sum()), int(blue.sum())


@pytest.fixture(scope="module")
def viewer():
    import viser  # noqa: F401  (the test extra has it: its absence fails, never skips)
    from trpo_mimic.mimic.viewer import Viewer
    v = Viewer("locomotion", host="127.0.0.1", port=0, skill="walk", seed=0).start()
    yield v
    v.close()


@needs_chromium
def test_the_browser_shows_the_character_and_its_controls_drive_it(viewer, tmp_path):
    assert CHROMIUM, "no chromium: `make test` installs Debian's (apt-get install chromium)"
    v, c = viewer, viewer.controller
    pushes = []
    push = c.push
    c.push = lambda force, *a, **k: pushes.append(force) or push(force, *a, **k)
    browser = Browser(tmp_path / "profile")
    try:
        browser.call("Page.navigate", url=v.url)
        until(lambda: "episode" in browser.text(), 30, "the page shows the viewer's status")
        loaded = time.monotonic()
        until(lambda: v.connections == 1, 5, "the server counts the page's connection")
        text = browser.text()
        for control in ("skill", "push force (N)", "push", "playback speed", "pause", "camera follow", "reset"):
            assert control in text.splitlines(), control

        def drawn():  # the meshes arrive after the panel; software WebGL draws them in a moment
            shot = browser.screenshot()
            orange, blue = colours(shot)
            return [shot] if orange > 500 and blue > 300 else None  # the character and its ghost
        [shot] = until(drawn, 30, "the screenshot shows the character and its ghost")
        print(f"first drawn after {time.monotonic() - loaded:.1f} s: {colours(shot)} pixels orange, blue")
        if os.environ.get("VIEWER_SCREENSHOT"):
            import imageio.v3 as iio
            iio.imwrite(os.environ["VIEWER_SCREENSHOT"], shot.astype(np.uint8))
        assert shot.std() > 10

        assert browser.click("button", "push")  # the page's own button
        until(lambda: pushes == [150.0], 10, "the push button pushes the character (150 N, the slider's value)")

        assert v.state.skill == "walk"
        assert browser.click("input", "walk")  # the skill dropdown, then its option
        assert browser.click("[role=option]", "run")
        until(lambda: v.state.skill == "run", 10, "the dropdown switches the skill")
        assert c.env.unwrapped.clip.name == "humanoid3d_run.txt" and v.gui["skill"].value == "run"
        until(lambda: "run ·" in browser.text(), 10, "the page's status says run")

        seen = v.state.time
        browser.call("Page.reload")  # a new connection: it sees the running scene, not a fresh one
        until(lambda: v.connections == 2 and "run ·" in browser.text(), 30, "the reloaded page shows the run")
        until(lambda: colours(browser.screenshot())[0] > 500, 30, "the reloaded page shows the character")
        assert v.state.time > seen or v.episodes > 1
    finally:
        c.push = push
        browser.close()


def test_pause_speed_reset_camera_follow_and_ghost(viewer):
    v, gui = viewer, viewer.gui
    gui["pause"].value = True
    time.sleep(0.2)
    step = v.state.step
    time.sleep(0.5)
    assert v.state.step == step
    until(lambda: "paused" in gui["status"].content, 2, "the status says paused")
    world = np.array(v._world.position)
    np.testing.assert_allclose(world[:2], -v.state.body_pos[0][:2])  # following: the character under the camera

    episodes = v.episodes
    gui["reset"].value = True  # a click
    until(lambda: v.episodes == episodes + 1, 5, "reset starts an episode")
    assert v.state.step == 0 and v.state.skill == gui["skill"].value
    gui["skill"].value = "jog"
    time.sleep(0.3)
    assert v.state.skill != "jog" and v.state.step == 0  # paused: asked for, not yet taken

    gui["follow"].value = False
    gui["speed"].value = 0.1
    gui["pause"].value = False
    until(lambda: v.state.skill == "jog", 5, "the skill asked for while paused is taken on the next step")
    start, t0 = v.state.step, time.monotonic()
    time.sleep(1.5)
    rate = (v.state.step - start) / (time.monotonic() - t0)
    assert rate < 6, rate  # 0.1 x real time: 3 steps a second
    still = np.array(v._world.position)
    gui["speed"].value = 1.0
    until(lambda: v.state.step > start + 20, 10, "back at full speed")
    np.testing.assert_array_equal(np.array(v._world.position), still)  # not following: the world stays

    gui["ghost"].value = False
    assert not any(frame.visible for frame in v.ghost.values())
    gui["ghost"].value = True
    assert all(frame.visible for frame in v.ghost.values())
    gui["follow"].value = True


def test_the_shapes_come_from_the_models_geoms(viewer):
    from trpo_mimic.mimic.shapes import geom_shape
    m = viewer.controller.env.unwrapped.model
    assert geom_shape(m, 0) is None  # the floor: the viewer draws its own ground
    assert len(viewer.character) == len(viewer.ghost) == 15
    for g in range(1, m.ngeom):
        v, f = geom_shape(m, g)
        size, kind = m.geom_size[g], int(m.geom_type[g])
        if kind == 3:  # capsule: a radius, a half-length along z
            assert np.abs(v[:, 2]).max() == pytest.approx(size[0] + size[1])
            assert np.hypot(v[:, 0], v[:, 1]).max() == pytest.approx(size[0])
        elif kind == 2:
            np.testing.assert_allclose(np.linalg.norm(v, axis=1), size[0])
        elif kind == 6:
            np.testing.assert_allclose(np.abs(v), np.broadcast_to(size, v.shape))
        a, b, cc = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
        normal = np.cross(b - a, cc - a)
        area = np.linalg.norm(normal, axis=1)
        assert ((normal * (a + b + cc)).sum(1)[area > 1e-12] > 0).all()  # wound to face outwards


def test_without_viser_view_is_one_line_and_exit_code_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "viser", None)  # import viser: ImportError
    assert main(["view", "walk"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == ("trpo-mimic: error: trpo-mimic view needs viser, an optional extra: "
                                 "pip install 'trpo-mimic[viewer]'\n")


def test_view_flags_are_checked_in_one_line(capsys):
    import viser  # noqa: F401  (the test extra has it: its absence fails, never skips)
    with pytest.raises(SystemExit) as exc:
        main(["view", "walk", "--port", "70000"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == ("trpo-mimic view: error: argument --port: invalid port value: '70000' "
                                       "(see trpo-mimic view --help)\n")
    assert main(["view", "walk", "--host", "192.0.2.1"]) == 2  # an address of no interface here
    assert capsys.readouterr().err.startswith("trpo-mimic: error: --host 192.0.2.1: cannot serve there (")
    assert main(["view", "no-such-policy", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trpo-mimic: error: ") and err.count("\n") == 1 and "no-such-policy" in err
    assert main(["view", "walk", "--skill", "run", "--port", "0"]) == 2  # said before anything is served
    assert capsys.readouterr().err == "trpo-mimic: error: unknown skill 'run': this policy's skills are walk\n"


def test_the_command_serves_the_page_and_ctrl_c_stops_it_in_one_line():
    import viser  # noqa: F401  (the test extra has it: its absence fails, never skips)
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    proc = subprocess.Popen([sys.executable, "-m", "trpo_mimic", "view", "walk", "--port", "0", "--seed", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        m = re.fullmatch(r"trpo-mimic view: walk \(walk\) at (http://127\.0\.0\.1:\d+) \(Ctrl-C to stop\)\n", line)
        assert m, line + proc.stderr.read() if proc.poll() is not None else line
        with urllib.request.urlopen(m.group(1), timeout=10) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert (proc.returncode, out, err) == (130, "", "trpo-mimic: interrupted by SIGINT\n")


def _goal_policy(tmp_path, env_id):
    from trpo_mimic.config import Config
    from trpo_mimic.train import train
    train(Config(env_id=env_id, motion_file=["humanoid3d_walk.txt"], amp=True, action_mode="absolute", num_envs=2,
                 steps_per_env=16, num_timesteps=32, vf_epochs=1, checkpoint_dir=str(tmp_path), run_name="g",
                 progress=False, eval_freq=0, eval_video=False, amp_buffer_size=64, amp_hidden=[16]))
    return tmp_path / "g"


def test_a_heading_policy_is_steered_from_the_panel_and_its_goal_drawn(tmp_path):
    """A goal policy has no skill to choose and no reference to draw: the panel has the heading and speed instead,
    a change steers the character on the next step (and holds through a reset), and an arrow of the goal is drawn
    at the character."""
    from trpo_mimic.mimic.viewer import Viewer
    with Viewer(_goal_policy(tmp_path, "DeepMimicHeading-v0"), port=0, seed=0) as v:
        gui, c = v.gui, v.controller
        assert "skill" not in gui and "ghost" not in gui and v.ghost == {}
        assert {"heading", "goal_speed"} <= set(gui)
        lo, hi = c.speeds  # the slider's ends: within them, rounded inward to 0.1 m/s (a narrower range as it is)
        assert lo <= gui["goal_speed"].min <= hi and lo <= gui["goal_speed"].max <= hi
        inward = (np.ceil(lo * 10) / 10, np.floor(hi * 10) / 10)
        assert (gui["goal_speed"].min, gui["goal_speed"].max) == (inward if inward[0] <= inward[1] else (lo, hi))
        gui["heading"].value = 90.0
        gui["goal_speed"].value = 1.5
        v.tick(c.dt, 0.0)
        assert c.goal_now() == pytest.approx({"heading": np.pi / 2, "speed": 1.5})
        assert "heading** 90 deg at 1.5 m/s" in v._status_text()
        (handle, (vector, rgb)), = v._goal_markers.shown.values()  # one arrow: 0.4 m per m/s, towards +y
        np.testing.assert_allclose(vector, [0.0, 0.6, 0.0], atol=1e-4)
        np.testing.assert_allclose(handle.position[:2], v.state.body_pos[0][:2], atol=0.05)
        gui["reset"].value = True  # a click: a new episode, the goal steered to holds
        v.tick(c.dt, 0.0)
        assert v.episodes == 2 and c.goal_now() == pytest.approx({"heading": np.pi / 2, "speed": 1.5})


def test_a_target_policy_goes_where_the_panel_says(tmp_path):
    from trpo_mimic.mimic.viewer import Viewer
    with Viewer(_goal_policy(tmp_path, "DeepMimicTarget-v0"), port=0, seed=0) as v:
        gui, c = v.gui, v.controller
        assert {"target_x", "target_y", "go"} <= set(gui) and "heading" not in gui
        gui["target_x"].value, gui["target_y"].value = 3.0, -2.0
        v.tick(c.dt, 0.0)
        assert c.goal_now()["target"] != (3.0, -2.0)  # set, not yet sent
        gui["go"].value = True  # a click
        v.tick(c.dt, 0.0)
        assert c.goal_now() == {"target": (3.0, -2.0)} and "target** at (3.0, -2.0) m" in v._status_text()
        (handle, _), = v._goal_markers.shown.values()  # a sphere at the target
        np.testing.assert_allclose(handle.position, [3.0, -2.0, 0.1])
