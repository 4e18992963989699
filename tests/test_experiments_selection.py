"""A study's choice on validation: the best mean best/<trainer.monitor>, never a test metric."""

import json

import pytest
import yaml

from cnnlstm.experiments.reproduce import check_selection, study_jobs
from cnnlstm.experiments.selection import choose, selection_table


def fake_job(root, n, lr, fold, val, test, monitor="val/acc", mode="max", finished=True):
    job = root / str(n)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"trainer": {"monitor": monitor, "monitor_mode": mode}}))
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"optimizer.lr={lr}", f"data.fold={fold}"]))
    if finished:
        (job / "metrics.json").write_text(json.dumps({f"best/{monitor}": val, "test/acc": test, "val/acc": 0.0}))


def test_the_best_mean_validation_score_wins_and_test_metrics_are_never_read(tmp_path):
    # lr 0.01 has by far the best test accuracy but the worse validation mean: it must lose
    for n, (lr, fold, val, test) in enumerate([(0.001, 0, 0.90, 0.50), (0.001, 1, 0.80, 0.50),
                                               (0.01, 0, 0.95, 0.99), (0.01, 1, 0.70, 0.99)]):
        fake_job(tmp_path, n, lr, fold, val, test)
    chosen, scores, objective = choose(tmp_path, {"optimizer.lr": [0.001, 0.01]})
    assert chosen == {"optimizer.lr": "0.001"} and objective == "best/val/acc (max)"
    assert scores[("0.01",)] == [0.95, 0.70]
    assert "| 0.001 | best/val/acc (max) | 0.8500 | 0.9000, 0.8000 | **yes** |" in selection_table(
        {"p": (chosen, scores, objective, {"optimizer.lr": [0.001, 0.01]})})


def test_a_minimised_monitor_and_failed_jobs(tmp_path):
    fake_job(tmp_path, 0, 0.001, 0, 0.30, 0.5, monitor="val/loss", mode="min")
    fake_job(tmp_path, 1, 0.01, 0, 0.10, 0.5, monitor="val/loss", mode="min", finished=False)  # diverged
    fake_job(tmp_path, 2, 0.003, 0, 0.20, 0.5, monitor="val/loss", mode="min")
    chosen, _, _ = choose(tmp_path, {"optimizer.lr": [0.001, 0.003, 0.01]})
    assert chosen == {"optimizer.lr": "0.003"}


def test_ties_go_to_the_first_grid_point_and_nothing_finished_is_an_error(tmp_path):
    fake_job(tmp_path / "a", 0, 0.01, 0, 0.5, 0.5)
    fake_job(tmp_path / "a", 1, 0.001, 0, 0.5, 0.5)
    assert choose(tmp_path / "a", {"optimizer.lr": [0.001, 0.01]})[0] == {"optimizer.lr": "0.001"}
    fake_job(tmp_path / "b", 0, 0.01, 0, 0.5, 0.5, finished=False)
    with pytest.raises(RuntimeError, match="no selection job .* finished"):
        choose(tmp_path / "b", {"optimizer.lr": [0.01]})


def test_every_part_gets_the_same_grid_and_one_setting_per_part():
    study = {"sweeps": {"a": ["experiment=cnn_lstm_sizes", "model.hidden_size=10", "model.conv_channels=[2]"],
                        "b": ["experiment=cnn_lstm_sizes", "model.hidden_size=50", "model.conv_channels=[2]"]},
             "select": {"grid": {"optimizer.lr": [0.001, 0.01]}, "overrides": ["seed=0"]}}
    check_selection(study)
    jobs = study_jobs(study, {"a": {"optimizer.lr": "0.01"}, "b": {"optimizer.lr": "0.001"}})
    assert len(jobs["a/select"]) == len(jobs["b/select"]) == 2  # the same budget
    assert all("optimizer.lr=0.01" in job for job in jobs["a"]) and all("seed=0" in j for j in jobs["a/select"])
    study["sweeps"]["a"] = ["experiment=cnn_lstm_sizes", "model.hidden_size=10"]  # sweeps conv_channels too
    with pytest.raises(KeyError, match="part 'a' sweeps model.conv_channels besides the selection grid"):
        check_selection(study)


def test_a_part_grid_adds_a_parts_own_knob_and_every_part_keeps_the_same_budget():
    init = {"model.lstm_init": [0.02, 0.09]}
    study = {"sweeps": {"rnn": ["experiment=cldnn_paper_ablation", "model.variant=lstm"],
                        "dnn": ["experiment=cldnn_paper_ablation", "model=frame_dnn"]},
             "select": {"grid": {"optimizer.lr": [0.001, 0.003]}, "overrides": ["seed=0"],
                        "part_grids": {"rnn": init, "dnn": {"model.dropout": [0.0, 0.2]}}}}
    check_selection(study)
    jobs = study_jobs(study)
    assert len(jobs["rnn/select"]) == len(jobs["dnn/select"]) == 4
    assert {"optimizer.lr=0.003", "model.lstm_init=0.09"} <= set(jobs["rnn/select"][-1])
    assert not any(o.startswith("model.lstm_init") for job in jobs["dnn/select"] for o in job)
    study["select"]["part_grids"]["dnn"] = {"model.dropout": [0.0, 0.1, 0.2]}  # 6 points against 4
    with pytest.raises(KeyError, match=r"grids of different sizes \(rnn 4, dnn 6\)"):
        check_selection(study)
    study["select"]["part_grids"] = {"rnn": init, "nn": init}
    with pytest.raises(KeyError, match="select.part_grids names 'nn', not a selected part"):
        check_selection(study)
    study["select"]["part_grids"] = {"rnn": {"optimizer.lr": [0.01]}, "dnn": {"model.dropout": [0.0]}}
    with pytest.raises(KeyError, match="select.part_grids.rnn repeats optimizer.lr of select.grid"):
        check_selection(study)


def test_the_selection_table_has_a_column_per_key_of_any_part(tmp_path):
    for n, (lr, val) in enumerate([(0.001, 0.5), (0.01, 0.7)]):
        fake_job(tmp_path, n, lr, 0, val, 0.0)
    chosen, scores, objective = choose(tmp_path, {"optimizer.lr": [0.001, 0.01]})
    table = selection_table({"a": (chosen, scores, objective, {"optimizer.lr": [0.001, 0.01]}),
                             "b": ({"model.dropout": "0.2"}, {("0.2",): [0.6]}, objective, {"model.dropout": [0.2]})})
    assert table.splitlines()[0].startswith("| part | optimizer.lr | model.dropout | objective |")
    assert "| a | 0.01 | - | best/val/acc (max) | 0.7000 | 0.7000 | **yes** |" in table
    assert "| b | - | 0.2 | best/val/acc (max) | 0.6000 | 0.6000 | **yes** |" in table
