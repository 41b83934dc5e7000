"""Each DeepMimic option is declared once (trpo_mimic.mimic.options.OPTIONS), and everything else comes from it:
the configuration's fields and flags, the environment's keywords and TaskOptions, evaluation's overrides and
training-only switches, and the documentation's table."""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from trpo_mimic.cli import parse
from trpo_mimic.cli_args import UsageError, validate
from trpo_mimic.config import Config, EngineConfig
from trpo_mimic.envs import env_kwargs_from_config
from trpo_mimic.mimic.options import (CORE_OPTIONS, OPTION, OPTIONS, TABLE_BEGIN, TABLE_END, TaskOptions,
                                      options_markdown)
from trpo_mimic.options import Option, validated

ROOT = Path(__file__).resolve().parents[1]


def test_every_option_is_a_config_field_with_its_declaration_and_none_is_the_engines():
    declared = {f.name: f.metadata.get("option") for f in fields(Config)}
    assert all(declared[o.name] is o for o in OPTIONS)
    assert not {f.name for f in fields(EngineConfig)} & set(OPTION)


def test_task_options_are_the_core_options_with_their_defaults():
    defaults = TaskOptions()
    assert [f.name for f in fields(TaskOptions)] == [o.name for o in CORE_OPTIONS] + ["mode"]
    assert all(getattr(defaults, o.name) == o.default for o in CORE_OPTIONS)


def test_a_flag_reaches_the_environment_cast_as_declared():
    _, opts = parse(["train", "--env_id", "DeepMimic-v0", "--switch_interval", "1", "2", "--fall_contact_bodies",
                     "root", "--max_root_drift", "1"])
    kw = env_kwargs_from_config(Config.from_dict(opts))
    core = {k: v for k, v in kw.items() if k in OPTION and OPTION[k].kind == "env"}
    task = TaskOptions(**core)
    assert task.switch_interval == (1.0, 2.0) and task.fall_contact_bodies == ("root",)
    assert task.max_root_drift == 1.0 and isinstance(task.max_root_drift, float)


def test_training_only_options_are_off_in_evaluation():
    on = {o.name: (0.5 if o.type is float else True) for o in CORE_OPTIONS if o.training_only}
    assert set(on) == {"max_root_drift", "pose_termination", "fail_weighted_rsi", "reset_noise"}
    train, ev = TaskOptions(**on), TaskOptions(**on, mode="eval")
    assert all(train.in_force(k) == v for k, v in on.items())
    assert all(ev.in_force(k) == OPTION[k].default for k in on)


def test_one_declaration_gives_the_same_rule_to_the_command_line_and_the_environment():
    with pytest.raises(UsageError, match="--fail_weighted_rsi must be in \\[0, 1\\), got 1.0"):
        validate(Config(env_id="DeepMimic-v0", fail_weighted_rsi=1.0))
    with pytest.raises(ValueError, match="fail_weighted_rsi must be in \\[0, 1\\), got 1.0"):
        TaskOptions(fail_weighted_rsi=1.0)
    with pytest.raises(ValueError, match="pd_feedforward needs action_mode='residual'"):
        TaskOptions(pd_feedforward=True)


def test_validated_casts_checks_and_sees_what_an_option_needs():
    opts = [Option("a", float, 1.0, "", nargs=2), Option("b", bool, False, "", needs=("c", "x")),
            Option("c", str, "y", "", choices=("x", "y"))]
    assert validated(opts, {"a": [1, 2]}) == {"a": (1.0, 2.0)}
    with pytest.raises(ValueError, match="a must be 2 numbers"):
        validated(opts, {"a": [1]})
    with pytest.raises(ValueError, match="b needs c='x'"):
        validated(opts, {"b": True})
    assert validated(opts, {"b": True, "c": "x"}) == {"b": True, "c": "x"}


def test_evaluate_overrides_exactly_the_declared_options():
    assert {o.name for o in OPTIONS if o.eval_override} == {"motion_file", "motion_dir", "clip_sequence", "commands",
                                                            "switch_seconds", "reference", "ground_snap"}


def test_the_documentation_table_is_the_declarations():
    text = (ROOT / "docs" / "deepmimic.md").read_text()
    table = text.split(TABLE_BEGIN, 1)[1].split(TABLE_END, 1)[0].strip()
    assert table == options_markdown()
    assert "| `--no-early_termination` / `early_termination` |" in table and "roll" in table
