import csv

from trpo_mimic.logger import RunLogger


def test_csv_gains_columns_that_appear_later(tmp_path):
    log = RunLogger(tmp_path, {"a": 1}, tensorboard=False)
    log.log({"x": 1.0}, 10)
    log.log({"x": 2.0, "y": 5.0}, 20)
    log.close()
    log = RunLogger(tmp_path, {"a": 1}, tensorboard=False)  # a resumed run appends
    log.log({"x": 3.0, "y": 6.0}, 30)
    log.close()
    rows = list(csv.DictReader(open(tmp_path / "progress.csv")))
    assert [r["timesteps"] for r in rows] == ["10", "20", "30"]
    assert [r["y"] for r in rows] == ["", "5.0", "6.0"]
