"""Evaluation's parts: the statistics (:mod:`.stats`), the episode runners (:mod:`.episodes`) and showing it live
(:mod:`.live`); the evaluation job that puts them together is :mod:`trpo_mimic.evaluate`."""
