"""The batched Pendulum-v1 against Gymnasium's own env in a SyncVectorEnv: equal step by step."""
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from trpo_mimic.envs import EnvError, make_vector_env
from trpo_mimic.envs.classic_vector import PendulumVectorEnv


@pytest.mark.parametrize("kwargs,dtype", [({}, np.float32), ({"g": 9.81}, np.float64)])
def test_batched_pendulum_equals_gymnasium_step_by_step(kwargs, dtype):
    n, limit = 5, 70
    ref = gym.vector.SyncVectorEnv([lambda: gym.make("Pendulum-v1", max_episode_steps=limit, **kwargs)
                                    for _ in range(n)], autoreset_mode=AutoresetMode.SAME_STEP)
    got = PendulumVectorEnv("Pendulum-v1", n, max_episode_steps=limit, **kwargs)
    o_ref, _ = ref.reset(seed=11)
    o_got, _ = got.reset(seed=11)
    np.testing.assert_array_equal(o_got, o_ref)
    rng = np.random.default_rng(0)
    resets = 0
    for t in range(3 * limit + 5):
        a = rng.uniform(-3, 3, (n, 1)).astype(dtype)  # beyond the torque limit too: clipped alike
        r1, r2 = ref.step(a), got.step(a)
        np.testing.assert_array_equal(r2[0], r1[0], err_msg=f"obs at step {t}")
        assert r2[0].dtype == r1[0].dtype == np.float32
        # the action cost 0.001 u^2 is float32 for float32 actions, and numpy's float32 scalar power (Gymnasium's
        # one action) rounds u^2 one float32 ulp away from the array power in about 1 of 1,400 draws: 1e-9 at most
        np.testing.assert_allclose(r2[1], r1[1], rtol=0, atol=1e-9, err_msg=f"reward at step {t}")
        np.testing.assert_array_equal(r2[2], r1[2])
        np.testing.assert_array_equal(r2[3], r1[3], err_msg=f"truncated at step {t}")
        if r1[3].any():
            resets += int(r1[3].sum())
            np.testing.assert_array_equal(r2[4]["_final_obs"], r1[4]["_final_obs"])
            done = r1[3]
            np.testing.assert_array_equal(r2[4]["final_obs"][done], np.stack(r1[4]["final_obs"][done]))
    assert resets == 3 * n  # every sub-env truncated at 70, 140 and 210 steps and started again in the step
    ref.close()
    got.close()


def test_auto_picks_the_batched_pendulum_and_sync_where_the_guard_is_asked_for():
    envs = make_vector_env("Pendulum-v1", 2)
    assert isinstance(envs, PendulumVectorEnv)
    envs.close()
    envs = make_vector_env("Pendulum-v1", 2, nonfinite="terminate")
    assert isinstance(envs, gym.vector.SyncVectorEnv)
    envs.close()
    with pytest.raises(EnvError, match="native Pendulum vector env"):
        make_vector_env("Pendulum-v1", 2, vec_env="native", nonfinite="terminate")


def test_bad_actions_are_refused_by_shape():
    envs = PendulumVectorEnv("Pendulum-v1", 3)
    envs.reset(seed=0)
    with pytest.raises(ValueError, match=r"expected actions of shape \(3, 1\), got \(3,\)"):
        envs.step(np.zeros(3))
