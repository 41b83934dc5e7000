"""The native MuJoCo locomotion vector env against Gymnasium's own envs in a SyncVectorEnv."""
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from trpo_mimic.envs import EnvError, make_vector_env
from trpo_mimic.envs.mujoco_tasks import SUPPORTED, TASKS
from trpo_mimic.envs.mujoco_vector import MujocoLocomotionVectorEnv


def _compare_info(ref: dict, got: dict) -> None:
    """Every info entry of SyncVectorEnv's (the final_* ones aside) and no other, masks equal, values close."""
    keys = {k for k in (*ref, *got) if not k.startswith("_") and k not in ("final_obs", "final_info")}
    for k in keys:
        if k not in ref:
            assert not got["_" + k].any(), k
            continue
        assert k in got, k
        np.testing.assert_array_equal(got["_" + k], ref["_" + k], err_msg=k)
        m = ref["_" + k]
        np.testing.assert_allclose(np.asarray(got[k], dtype=float)[m], np.asarray(ref[k], dtype=float)[m],
                                   rtol=1e-9, atol=1e-9, err_msg=k)


# id, make kwargs, steps, whether random actions end episodes by termination within them
CASES = [("Hopper-v5", {}, 300, True), ("Walker2d-v5", {}, 200, True),
         ("HalfCheetah-v5", {"ctrl_cost_weight": 0.3}, 150, False),
         ("Swimmer-v5", {"exclude_current_positions_from_observation": False}, 80, False),
         ("Ant-v5", {"healthy_z_range": (0.5, 1.0), "main_body": "torso"}, 120, True),
         ("Ant-v5", {"include_cfrc_ext_in_observation": False, "contact_force_range": (-0.5, 0.5)}, 70, True),
         ("Humanoid-v5", {}, 80, True),
         ("Humanoid-v5", {"include_cinert_in_observation": False, "contact_cost_weight": 1e-5}, 40, True),
         ("HumanoidStandup-v5", {}, 70, False),
         ("HumanoidStandup-v5", {"include_cvel_in_observation": False, "impact_cost_weight": 1e-5}, 65, False),
         ("InvertedPendulum-v5", {"reset_noise_scale": 0.05}, 80, True),
         ("InvertedDoublePendulum-v5", {"healthy_reward": 3.0}, 80, True),
         ("Reacher-v5", {"reward_dist_weight": 2.0}, 70, False),
         ("Pusher-v5", {"reward_near_weight": 0.7}, 70, False),
         ]


@pytest.mark.parametrize("env_id,kwargs,steps,terminates", CASES)
@pytest.mark.parametrize("nthread", [1, 2])
def test_native_env_equals_gymnasium_step_by_step(env_id, kwargs, steps, terminates, nthread):
    n = 4
    ref = gym.vector.SyncVectorEnv([lambda: gym.make(env_id, max_episode_steps=60, **kwargs) for _ in range(n)],
                                   autoreset_mode=AutoresetMode.SAME_STEP)
    got = MujocoLocomotionVectorEnv(env_id, n, max_episode_steps=60, nthread=nthread, **kwargs)
    o_ref, i_ref = ref.reset(seed=7)
    o_got, i_got = got.reset(seed=7)
    np.testing.assert_array_equal(o_got, o_ref)
    _compare_info(i_ref, i_got)
    rng = np.random.default_rng(0)
    ended = terminated_any = 0
    for t in range(steps):
        a = rng.uniform(-1, 1, (n, *got.single_action_space.shape)).astype(np.float32)
        r1 = ref.step(a)
        r2 = got.step(a)
        np.testing.assert_allclose(r2[0], r1[0], rtol=0, atol=1e-12, err_msg=f"obs at step {t}")
        np.testing.assert_allclose(r2[1], r1[1], rtol=1e-12, atol=1e-12, err_msg=f"reward at step {t}")
        np.testing.assert_array_equal(r2[2], r1[2], err_msg=f"terminated at step {t}")
        np.testing.assert_array_equal(r2[3], r1[3], err_msg=f"truncated at step {t}")
        _compare_info(r1[4], r2[4])
        done = r1[2] | r1[3]
        if done.any():
            ended += int(done.sum())
            terminated_any += int(r1[2].sum())
            fo = np.stack([r1[4]["final_obs"][i] for i in np.flatnonzero(done)])
            np.testing.assert_allclose(r2[4]["final_obs"][done], fo, rtol=0, atol=1e-12)
            np.testing.assert_array_equal(r2[4]["_final_obs"], r1[4]["_final_obs"])
            _compare_info(r1[4]["final_info"], r2[4]["final_info"])
    assert ended > 0  # episodes ended (truncations at 60 steps at least) and were reset in the same step
    assert (terminated_any > 0) == terminates  # the health check ends episodes where the task has one
    ref.close()
    got.close()


def test_auto_picks_native_for_supported_ids_and_sync_otherwise():
    assert sorted(TASKS) == sorted(SUPPORTED)  # the ids named without importing MuJoCo are the tasks written
    envs = make_vector_env("Hopper-v5", 2)
    assert isinstance(envs, MujocoLocomotionVectorEnv)
    envs.close()
    for env_id in ("Ant-v5", "Reacher-v5"):
        envs = make_vector_env(env_id, 2)
        assert isinstance(envs, MujocoLocomotionVectorEnv)
        envs.close()
    envs = make_vector_env("Hopper-v4", 2)  # other versions of the MuJoCo tasks keep Gymnasium's vector env
    assert isinstance(envs, gym.vector.SyncVectorEnv)
    envs.close()
    envs = make_vector_env("Hopper-v5", 2, nonfinite="terminate")  # needs the per-env guard
    assert isinstance(envs, gym.vector.SyncVectorEnv)
    envs.close()
    with pytest.raises(EnvError, match="native"):
        make_vector_env("CartPole-v1", 2, vec_env="native")
    with pytest.raises(EnvError, match="nonfinite"):
        make_vector_env("Hopper-v5", 2, vec_env="native", nonfinite="terminate")


def test_native_env_rejects_wrong_action_shape_and_step_before_reset():
    envs = MujocoLocomotionVectorEnv("Hopper-v5", 2, nthread=1)
    with pytest.raises(RuntimeError, match="reset"):
        envs.step(np.zeros((2, 3)))
    envs.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        envs.step(np.zeros((3, 3)))
    envs.close()


def test_training_on_the_native_env_logs_its_reward_terms(tmp_path):
    from trpo_mimic.config import Config
    from trpo_mimic.train import Trainer
    t = Trainer(Config(env_id="Hopper-v5", num_timesteps=256, num_envs=2, steps_per_env=128, checkpoint_dir=str(tmp_path),
                       progress=False, eval_freq=0, eval_episodes=0))
    assert isinstance(t.envs, MujocoLocomotionVectorEnv)
    s = t.iterate()
    t.envs.close()
    assert 0.0 < s["RewardTerms/reward_survive"] <= 1.0  # 1 per healthy step
    assert s["RewardTerms/reward_ctrl"] < 0.0
    assert not any(k.startswith("DeepMimic/") for k in s)
