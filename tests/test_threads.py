"""Thread budgets: a training process bounds both torch's pool and numpy's BLAS pool."""
import numpy as np
import torch
from threadpoolctl import threadpool_limits

from trpo_mimic.config import Config
from trpo_mimic.threads import blas_threads
from trpo_mimic.train import Trainer


def test_trainer_limits_torch_and_blas_threads(tmp_path):
    assert np.ones((2, 2)) @ np.ones((2, 2)) is not None  # numpy's BLAS is loaded
    before_torch = torch.get_num_threads()
    with threadpool_limits(limits=3, user_api="blas"):
        assert blas_threads() and all(n == 3 for n in blas_threads())  # not 1 to begin with
        cfg = Config(env_id="Pendulum-v1", num_timesteps=64, num_envs=2, steps_per_env=32, vf_epochs=1,
                     torch_threads=1, checkpoint_dir=str(tmp_path), run_name="t", progress=False, eval_freq=0,
                     eval_video=False)
        tr = Trainer(cfg)
        try:
            assert torch.get_num_threads() == 1
            assert all(n == 1 for n in blas_threads()), blas_threads()
        finally:
            tr.envs.close()
            tr.logger.close()
    torch.set_num_threads(before_torch)
