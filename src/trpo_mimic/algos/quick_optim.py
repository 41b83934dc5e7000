"""Construct torch optimisers without importing torch's compiler.

``torch.optim.Optimizer``'s ``add_param_group``, ``zero_grad``, ``state_dict`` and ``load_state_dict`` are
wrapped by ``torch._disable_dynamo``, which imports ``torch._dynamo`` on their first call only to mark them
as not to be compiled: 2.5 to 5 s of every process that builds an optimiser (measured with torch 2.13 on this
project's 2-core machine), as long as importing torch itself. This package never compiles, so the mark
is not needed: :func:`skip_compiler_import` caches the undecorated method where the wrapper looks for its
compiled-off version (the wrapper's own cache), and the wrapper then calls the method directly. Where a
torch version wraps them otherwise, nothing is changed and the compiler is imported as before.
``torch.optim.Adam.step`` itself still imports it (PPO, and TRPO's torch backend); TRPO's numpy backend fits
the critic with its own Adam step and never does.
"""

from __future__ import annotations

import torch

_METHODS = ("add_param_group", "zero_grad", "state_dict", "load_state_dict")


def skip_compiler_import() -> None:
    """Let the optimiser methods above run without importing ``torch._dynamo`` (idempotent)."""
    for name in _METHODS:
        fn = getattr(getattr(torch.optim.Optimizer, name), "__wrapped__", None)
        if fn is not None and getattr(fn, "__dynamo_disable", None) is None:
            setattr(fn, "__dynamo_disable", fn)


skip_compiler_import()
