"""The imitation domain's sub-commands of ``trpo-mimic``, one module each (:class:`trpo_mimic.tasks.Command`),
which :meth:`..task.DeepMimicTask.commands` hands to the CLI."""
from __future__ import annotations

from .build_character import BuildCharacterCommand
from .convert_bvh import ConvertBvhCommand
from .play_motion import PlayMotionCommand
from .pretrained import PretrainedCommand
from .view import ViewCommand

COMMANDS = (PretrainedCommand(), ViewCommand(), PlayMotionCommand(), ConvertBvhCommand(), BuildCharacterCommand())
