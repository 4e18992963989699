"""The multirun summarizer on synthetic multirun directories: discovery, grouping, statistics, files."""

import json
import os

import pandas as pd
import pytest

from cnnlstm.experiments.summarize import find_jobs, main, summarize


def make_job(path, overrides, metrics=None, error=None, params=None):
    (path / ".hydra").mkdir(parents=True)
    (path / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if metrics is not None:
        (path / "metrics.json").write_text(json.dumps(metrics))
    if error is not None:
        (path / "failure.json").write_text(json.dumps({"error": error}))
    if params is not None:
        (path / "model_summary.txt").write_text(f"===\nTotal params: {params:,}\nTrainable params: {params:,}\n")


@pytest.fixture
def sweep(tmp_path):
    """hidden=8,16 x seed=0,1,2 plus one failed and one killed job; a constant override."""
    accs = {(8, 0): 0.5, (8, 1): 0.7, (8, 2): 0.6, (16, 0): 0.9, (16, 1): 1.0}
    num = 0
    for hidden in (8, 16):
        for seed in (0, 1, 2):
            overrides = [f"model.hidden_size={hidden}", f"seed={seed}", "data.n_train=256"]
            if (hidden, seed) in accs:
                make_job(tmp_path / str(num), overrides, {"test/acc": accs[hidden, seed], "test/loss": 1 - accs[hidden, seed],
                                                          "fit_seconds": 2.0}, params=100 * hidden)
            else:
                make_job(tmp_path / str(num), overrides, error="error: the training loss became NaN or infinite by step 8")
            num += 1
    make_job(tmp_path / str(num), ["model.hidden_size=32", "seed=0", "data.n_train=256"])  # killed: neither file
    (tmp_path / "multirun.yaml").write_text("hydra: {}\n")
    return tmp_path


def test_summary_groups_by_swept_keys_with_mean_and_std(sweep):
    text = summarize(sweep)
    assert {p.name for p in sweep.iterdir()} >= {"summary.csv", "summary.md", "summary.png"}
    md = (sweep / "summary.md").read_text()
    assert md == text
    assert "7 jobs: 5 ok, 1 failed, 1 incomplete" in md
    assert "Grouped by `model.hidden_size`" in md
    lines = md.splitlines()
    header = next(line for line in lines if line.startswith("| model.hidden_size"))
    assert header.split("|")[2].strip() == "test/acc"  # the main metric comes first
    assert "data.n_train" not in header  # constant overrides are no group key
    row8 = next(line for line in lines if line.startswith("| 8 |"))
    assert "0.6 ± 0.1" in row8 and "| 800 |" in row8 and row8.rstrip(" |").endswith("3 | 0")
    row16 = next(line for line in lines if line.startswith("| 16 |"))
    assert "0.95 ± 0.071" in row16 and row16.rstrip(" |").endswith("2 | 1")
    failures = md[md.index("## Failed or incomplete jobs"):]
    assert "| 5 | 16 | 2 | failed | error: the training loss became NaN" in failures
    assert "| 6 | 32 | 0 | incomplete |" in failures
    assert (sweep / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_csv_has_a_row_per_job_with_overrides_metrics_status_and_error(sweep):
    summarize(sweep)
    table = pd.read_csv(sweep / "summary.csv", dtype={"job": str})
    assert list(table.job) == [str(i) for i in range(7)]
    assert list(table.status) == ["ok"] * 5 + ["failed", "incomplete"]
    assert {"model.hidden_size", "seed", "data.n_train", "test/acc", "test/loss", "params", "error"} <= set(table.columns)
    assert table.loc[1, "test/acc"] == 0.7 and table.loc[1, "seed"] == 1
    assert "NaN" in table.loc[5, "error"] and pd.isna(table.loc[5, "test/acc"])


def test_nested_sweeps_and_empty_job_directories(tmp_path):
    make_job(tmp_path / "denoiser" / "0", ["model=denoiser", "model.attention=direct", "seed=0"], {"test/psnr_masked": 14.0, "test/loss": 0.1})
    make_job(tmp_path / "denoiser" / "1", ["model=denoiser", "model.attention=direct", "seed=1"], {"test/psnr_masked": 15.0, "test/loss": 0.1})
    make_job(tmp_path / "conv_autoencoder" / "0", ["model=conv_autoencoder", "seed=0"], {"test/psnr_masked": 12.0, "test/loss": 0.2})
    (tmp_path / "conv_autoencoder" / "1").mkdir()  # created, then killed before Hydra wrote anything
    (tmp_path / "conv_autoencoder" / "0" / "checkpoints").mkdir()  # inside a job: not searched
    jobs = [p.relative_to(tmp_path).as_posix() for p in find_jobs(tmp_path)]
    assert jobs == ["conv_autoencoder/0", "conv_autoencoder/1", "denoiser/0", "denoiser/1"]
    md = summarize(tmp_path)
    assert "Grouped by `model`, `model.attention`" in md
    assert "| denoiser | direct | 14.5 ± 0.71 |" in md  # test/psnr_masked is the main metric without test/acc
    assert "| conv_autoencoder | - | 12 |" in md
    assert "| conv_autoencoder/1 |" in md and "incomplete" in md


def test_only_seeds_swept_gives_one_group_named_by_the_constant_overrides(tmp_path):
    for seed, acc in enumerate((0.8, 0.9, 1.0)):
        make_job(tmp_path / str(seed), ["model=cnn_lstm", "data.n_train=256", f"seed={seed}"], {"test/acc": acc})
    md = summarize(tmp_path)
    assert "| cnn_lstm | 256 | 0.9 ± 0.1 | [0.6516, 1.148] | 3 |" in md  # 0.9 ± t(0.975, 2) 0.1 / sqrt(3)
    assert "seeds: 3" in md and "Failed" not in md


def test_a_rerun_job_counts_by_its_newer_result(tmp_path):
    make_job(tmp_path / "0", ["seed=0", "x=1"], {"test/acc": 0.5}, error="error: old failure")
    old = os.stat(tmp_path / "0" / "metrics.json").st_mtime - 10
    os.utime(tmp_path / "0" / "failure.json", (old, old))
    make_job(tmp_path / "1", ["seed=1", "x=1"], {"test/acc": 0.7})
    assert "| 1 | 0.6 ± 0.14 | [-0.6706, 1.871] | 2 |" in summarize(tmp_path)


def test_cli_metric_option_and_clear_errors(sweep, tmp_path, capsys):
    assert main([str(sweep), "--metric", "test/loss"]) == 0
    header = next(line for line in (sweep / "summary.md").read_text().splitlines() if line.startswith("| model"))
    assert header.split("|")[2].strip() == "test/loss"
    assert "wrote" in capsys.readouterr().out
    assert main([str(sweep), "--metric", "test/nope"]) == 2
    assert "test/nope" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty)]) == 2
    assert "no jobs under" in capsys.readouterr().err
    assert main([str(tmp_path / "missing")]) == 2


def test_all_jobs_failed_still_writes_csv_and_markdown(tmp_path):
    make_job(tmp_path / "0", ["seed=0", "data.seq_len=20"], error="error: data.seq_len must be <= size")
    md = summarize(tmp_path)
    assert "No job finished." in md and "data.seq_len must be <= size" in md
    assert (tmp_path / "summary.csv").exists() and not (tmp_path / "summary.png").exists()


def test_paired_difference_to_a_baseline_over_shared_seeds(tmp_path, capsys):
    accs = {"a": (0.70, 0.80, 0.75), "b": (0.72, 0.83, 0.80)}  # b beats a by 0.02, 0.03, 0.05
    num = 0
    for model, values in accs.items():
        for seed, acc in enumerate(values):
            make_job(tmp_path / str(num), [f"model.kind={model}", f"seed={seed}"], {"test/acc": acc})
            num += 1
    make_job(tmp_path / str(num), ["model.kind=b", "seed=7"], {"test/acc": 0.99})  # no partner: not paired
    assert main([str(tmp_path), "--baseline", "model.kind=a"]) == 0
    md = (tmp_path / "summary.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| model.kind"))
    assert header.startswith("| model.kind | test/acc | 95% CI | Δ vs model.kind=a |")
    row_b = next(line for line in md.splitlines() if line.startswith("| b |"))
    # differences 0.02, 0.03, 0.05: mean 0.0333, s 0.01528, t(0.975, 2) = 4.303 -> half-width 0.03795
    assert "+0.03333 [-0.00461, +0.0713] (n=3)" in row_b
    assert next(line for line in md.splitlines() if line.startswith("| a |")).split("|")[4].strip() == "-"
    assert main([str(tmp_path), "--baseline", "model.nope=a"]) == 2
    assert "expected key=value with a swept key" in capsys.readouterr().err


def test_a_baseline_run_at_one_setting_is_compared_with_every_other_setting(tmp_path):
    num = 0
    for kind, extra, values in (("a", "0", (0.5, 0.6)), ("b", "0", (0.6, 0.7)), ("b", "1", (0.7, 0.9))):
        for seed, acc in enumerate(values):
            make_job(tmp_path / str(num), [f"model.kind={kind}", f"model.extra={extra}", f"seed={seed}"],
                     {"test/acc": acc})
            num += 1
    md = summarize(tmp_path, baseline="model.kind=a")
    row = next(line for line in md.splitlines() if line.startswith("| b | 1 |"))
    assert "+0.25" in row and "(n=2)" in row  # 0.7 - 0.5, 0.9 - 0.6


def test_a_seed_run_twice_is_averaged_before_pairing(tmp_path):
    num = 0
    for part in ("p1", "p2"):
        for kind, values in (("a", (0.5, 0.6)), ("b", (0.7, 0.8))):
            for seed, acc in enumerate(values):
                make_job(tmp_path / part / str(num), [f"model.kind={kind}", f"seed={seed}"], {"test/acc": acc})
                num += 1
    row = next(line for line in summarize(tmp_path, baseline="model.kind=a").splitlines() if line.startswith("| b |"))
    assert "+0.2 " in row and "(n=2)" in row


def test_each_baseline_gets_its_own_column_of_paired_differences(tmp_path, capsys):
    num = 0
    for kind, values in (("a", (0.5, 0.6)), ("b", (0.7, 0.9)), ("c", (0.6, 0.6))):
        for seed, acc in enumerate(values):
            make_job(tmp_path / str(num), [f"model.kind={kind}", f"seed={seed}"], {"test/acc": acc})
            num += 1
    md = summarize(tmp_path, baseline=["model.kind=a", "model.kind=c"])
    header = next(line for line in md.splitlines() if line.startswith("| model.kind |"))
    assert "Δ vs model.kind=a" in header and "Δ vs model.kind=c" in header
    cells = [c.strip() for c in next(line for line in md.splitlines() if line.startswith("| b |")).split("|")]
    vs_a, vs_c = cells[header.split("|").index(" Δ vs model.kind=a ")], cells[header.split("|").index(" Δ vs model.kind=c ")]
    assert vs_a.startswith("+0.25") and vs_c.startswith("+0.2 ")  # (0.2 + 0.3) / 2 and (0.1 + 0.3) / 2
    row_c = [c.strip() for c in next(line for line in md.splitlines() if line.startswith("| c |")).split("|")]
    assert row_c[header.split("|").index(" Δ vs model.kind=c ")] == "-"
    assert main([str(tmp_path), "--baseline", "model.kind=a", "--baseline", "model.nope=c"]) == 2
    assert "--baseline model.nope=c" in capsys.readouterr().err


# ------------------------------------------------------------- issue 26 C: hostile job records
def two_good_jobs(root):
    for seed, acc in ((0, 0.5), (1, 0.7)):
        make_job(root / str(seed), ["model.hidden_size=8", f"seed={seed}"], {"test/acc": acc})


@pytest.mark.parametrize("name,content,problem", [
    ("metrics.json", b"{not json", "not valid JSON"),
    ("metrics.json", b"[0.5, 0.7]", "expected a JSON object, got a list"),
    ("metrics.json", b"\xff\xfe\x00garbage", "not UTF-8 text"),
    ("failure.json", b"", "not valid JSON"),
    (".hydra/overrides.yaml", b"- seed=2\n  bad: [", "not valid YAML"),
    (".hydra/overrides.yaml", b"seed: 2\n", "expected a YAML list of key=value strings, got a m"),
    ("held_out/more/metrics.json", b"3", "expected a JSON object, got a int"),
])
def test_an_unreadable_job_is_skipped_with_a_warning_naming_its_file(tmp_path, capsys, name,
                                                                      content, problem):
    """A garbled record of one job is a warning naming the file; the job is listed as unreadable
    and in no group, and the rest of the sweep is summarized (was a traceback)."""
    two_good_jobs(tmp_path)
    make_job(tmp_path / "2", ["model.hidden_size=8", "seed=2"], {"test/acc": 0.9})
    (tmp_path / "2" / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "2" / name).write_bytes(content)
    if name == "failure.json":  # the only result: it counts
        (tmp_path / "2" / "metrics.json").unlink()
    assert main([str(tmp_path)]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1
    assert f"skipped job 2: {tmp_path / '2' / name}: {problem}" in warnings[0]
    md = (tmp_path / "summary.md").read_text()
    assert "3 jobs: 2 ok, 0 failed, 0 incomplete, 1 unreadable (skipped)" in md
    assert "| 8 | 0.6 ± 0.14 |" in md and "| 2 | - | - | unreadable |" in md  # in no group
    table = pd.read_csv(tmp_path / "summary.csv", dtype={"job": str})
    assert list(table.status) == ["ok", "ok", "unreadable"]


def test_a_garbled_parameter_count_is_no_count_not_an_error(tmp_path):
    two_good_jobs(tmp_path)
    (tmp_path / "0" / "model_summary.txt").write_text("Total params: lots\n")
    assert "| 8 | 0.6 ± 0.14 |" in summarize(tmp_path)


def test_a_read_only_folder_is_one_line_naming_the_file_and_keeps_the_old_summary(tmp_path, capsys,
                                                                                 monkeypatch):
    import errno

    import cnnlstm.files as atomic

    two_good_jobs(tmp_path)
    summarize(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    make_job(tmp_path / "2", ["model.hidden_size=8", "seed=2"], {"test/acc": 0.9})

    def read_only(src, dst):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic.os, "replace", read_only)
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: cannot write {tmp_path / 'summary.csv'}: Read-only file system\n"
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_a_symlink_at_a_summary_file_is_replaced_not_written_through(tmp_path):
    outside = tmp_path / "outside.md"
    outside.write_text("keep me")
    sweep = tmp_path / "sweep"
    two_good_jobs(sweep)
    (sweep / "summary.md").symlink_to(outside)
    summarize(sweep)
    assert outside.read_text() == "keep me" and not (sweep / "summary.md").is_symlink()


def test_a_symlinked_folder_that_loops_back_is_not_walked(tmp_path):
    two_good_jobs(tmp_path / "sweep")
    (tmp_path / "sweep" / "loop").symlink_to(tmp_path / "sweep")
    assert [p.name for p in find_jobs(tmp_path / "sweep")] == ["0", "1"]
