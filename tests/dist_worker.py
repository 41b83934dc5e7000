"""Run under torchrun by test_distributed.py: one TRPO + critic update on this rank's half of a batch."""
import sys

import torch
import torch.distributed as dist

from trpo_mimic import distributed as D
from trpo_mimic.algos.trpo import PolicyBatch, TRPOSettings, update_critic, update_policy


def main(batch_file: str, agent_file: str, out_prefix: str) -> None:
    torch.set_num_threads(1)
    D.init("cpu")
    r, w = D.rank(), D.world_size()
    data = torch.load(batch_file, weights_only=True)
    agent = torch.load(agent_file, weights_only=False)  # written by the test itself
    n = data["obs"].shape[0] // w
    part = {k: v[r * n:(r + 1) * n] for k, v in data.items()}
    agent.obs_normalizer.update(part["obs"])
    batch = PolicyBatch(agent.obs_normalizer(part["obs"]), part["actions"], part["adv"], part["ret"])
    stats = update_policy(agent.actor, batch, TRPOSettings(max_kl=0.01), "written_out")
    opt = torch.optim.Adam(agent.critic.parameters(), lr=1e-3)
    update_critic(agent.critic, opt, batch.obs, batch.returns, epochs=3, batch_size=10**6, backend="numpy")
    torch.save({"state": agent.state_dict(), "stats": stats}, f"{out_prefix}{r}.pt")
    dist.barrier()
    D.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:4])
