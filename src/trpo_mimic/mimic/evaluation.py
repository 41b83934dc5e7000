"""DeepMimic's evaluation extras: its lines of the results block, the push sweep, the reference's ghost in a live
window. The engine reaches them through :class:`.task.DeepMimicTask`."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..evaluation.stats import BODY_ERROR_KEY, SUCCESS_ERROR, EvalResult
from .scene import TASK_REWARD_KEY


def result_lines(result: EvalResult) -> list[str]:
    """Reward per step, falls, body-position error and success, the reward terms, per clip, falls at switches."""
    s = result.summary()
    goal = TASK_REWARD_KEY in result.term_means  # a goal scene: its task return; its clips are only where it starts
    lines = [f"mean reward per step: {result.reward_per_step:.4f}",
             f"falls: {s['terminated']} of {s['episodes']} episodes ended early"
             + (" (none fell)" if s["terminated"] == 0 else "")]
    if BODY_ERROR_KEY in result.term_means:
        lines.append(f"body position error: {result.term_means[BODY_ERROR_KEY]:.3f} m mean per step "
                     f"(relative to the root: {result.term_means.get(BODY_ERROR_KEY + '_local', float('nan')):.3f} m)")
        lines.append(f"success: {result.successes} of {s['episodes']} episodes (no fall, body position "
                     f"error under {SUCCESS_ERROR} m throughout)")
    if goal and result.return_over_limit is not None:
        lines.append(f"normalised task return: {result.return_over_limit:.4f} (the task reward summed over each "
                     f"episode over its {result.limit} steps: a fall forfeits the rest)")
    for k, v in sorted(result.term_means.items()):
        if k.startswith("reward_"):
            lines.append(f"  {k}: {v:.4f}")
    for name, c in ({} if goal else result.per_clip()).items():
        lines.append(f"clip {name}: {c['reward_per_step']:.4f} reward per step over {c['steps']} steps "
                     f"of {c['episodes']} episodes, falls {c['falls']}")
    if result.switch_falls is not None:
        from .sequence import SWITCH_FALL_SECONDS
        lines.append(f"falls at a clip switch (within {SWITCH_FALL_SECONDS:g} s of it): {result.switch_falls} "
                     f"of {s['terminated']} falls")
    return lines


def ghost_drawer(env: Any) -> Callable[[Any], None] | None:
    """Draws the reference as a ghost into MuJoCo's live viewer (its ``user_scn``), as the videos do."""
    import mujoco
    u = env.unwrapped
    if not hasattr(u, "clip"):
        return None
    ghost = mujoco.MjData(u.model)

    def draw(handle: Any) -> None:
        view = getattr(u, "render_reference", "off")
        if view == "off":
            return
        from .render import add_ghost
        with handle.lock():
            handle.user_scn.ngeom = 0
            add_ghost(u.model, ghost, handle.user_scn, u.reference_qpos(), view == "side", int(u.model.jnt_qposadr[0]))
    return draw


SWEEP_START, SWEEP_MAX, SWEEP_PRECISION = 50.0, 6400.0, 0.05


def push_sweep(agent: Any, cfg: Any, episodes: int, seed: int, deterministic: bool, path: Any) -> EvalResult:
    """The largest push force (N) the policy survives (no fall) in at least 9 of 10 episodes: doubling from
    SWEEP_START, then bisecting between the last force survived and the first not, to SWEEP_PRECISION of it.
    Prints each force tried and the answer; returns the evaluation at that force (without pushes if even
    SWEEP_START is too much)."""
    from ..checkpoint import resolve_checkpoint
    from ..evaluate import evaluate_policy
    need = int(np.ceil(0.9 * episodes))

    def survived(force: float) -> tuple[bool, EvalResult]:
        res, _ = evaluate_policy(agent, cfg, episodes, seed, deterministic, progress=False, extras={"push": force})
        ok = episodes - sum(res.terminated)
        print(f"push {force:7.1f} N: {ok} of {episodes} episodes without a fall, "
              f"{res.reward_per_step:.4f} reward per step", flush=True)
        return ok >= need, res

    print(f"push sweep of {resolve_checkpoint(path)} on {cfg.env_id}: the largest force survived in at least "
          f"{need} of {episodes} episodes")
    good, best = 0.0, None
    bad = SWEEP_START
    while bad <= SWEEP_MAX:
        ok, res = survived(bad)
        if not ok:
            break
        good, best, bad = bad, res, 2 * bad
    else:
        print(f"survives every push up to {SWEEP_MAX:g} N (the sweep's limit)")
        return best
    while good > 0 and bad - good > SWEEP_PRECISION * good:
        mid = 0.5 * (good + bad)
        ok, res = survived(mid)
        if ok:
            good, best = mid, res
        else:
            bad = mid
    if best is None:
        print(f"largest push survived: under {SWEEP_START:g} N (falls in more than {episodes - need} of {episodes} "
              f"episodes at {SWEEP_START:g} N)")
        best, _ = evaluate_policy(agent, cfg, episodes, seed, deterministic, progress=False)
        return best
    print(f"largest push survived in at least {need} of {episodes} episodes: {good:.0f} N "
          f"(fell at {bad:.0f} N)")
    return best
