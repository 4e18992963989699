"""A checkpoint is data: a foreign ``_target_`` anywhere in its config is refused before it runs.

Each crafted checkpoint names ``os.system`` (which would create a marker file) at another depth of
its stored config or overrides; every entry point that reads checkpoints (eval, stream, restore,
resume) must refuse it in one line, touch no file, and run none of it.
"""

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
import torch
from conftest import CONF, TINY_SQUARES, compose_config, run_script
from omegaconf import OmegaConf

from cnnlstm.engine.checkpoint import load_checkpoint
from cnnlstm.engine.run import train
from cnnlstm.engine.trusted import ENV_VAR, UntrustedTarget, check_trusted, is_trusted, targets

QUICK = [*TINY_SQUARES, "logger=none", "trainer.max_steps=2"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("finished")
    train(compose_config(*QUICK), run_dir)
    return run_dir


def evil(marker: Path) -> dict:
    return {"_target_": "os.system", "_args_": [f"touch {marker}"]}


def _set(config: dict, where: str, value) -> None:
    node = config
    *path, last = where.split(".")
    for key in path:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    node[last] = value


# every depth a stored config can hide a target at, and the overrides a resume command is made of
PLACES = ["model", "data", "task", "trainer", "optimizer", "model.nested", "data.corruption",
          "model._target_", "overrides", "alias"]


def craft(finished: Path, tmp_path: Path, place: str) -> tuple[Path, Path]:
    marker = tmp_path / "ran"
    ckpt = torch.load(finished / "checkpoints" / "best.pt", weights_only=True)
    config = ckpt["config"]
    if place == "overrides":
        ckpt["overrides"] = ["data.n_train=256", "model._target_=os.system"]
    elif place == "alias":  # a name under our package that resolves to someone else's code
        config["model"]["_target_"] = "cnnlstm.models.cldnn.torch.load"
    elif place == "model._target_":
        config["model"]["_target_"] = "builtins.open"
    elif place == "data.corruption":
        config["data"]["corruption"] = [{"_target_": "cnnlstm.data.corruptions.BlankHalf"}, evil(marker)]
    else:
        _set(config, place, evil(marker))
    path = tmp_path / f"crafted_{place}.pt"
    torch.save(ckpt, path)
    return path, marker


def tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("place", PLACES)
def test_load_checkpoint_refuses_a_foreign_target_at_any_depth(finished, tmp_path, place):
    path, marker = craft(finished, tmp_path, place)
    with pytest.raises(UntrustedTarget, match=r"is not a cnnlstm class") as error:
        load_checkpoint(path)
    assert str(path) in str(error.value) and "_target_" in str(error.value)
    assert not marker.exists()


@pytest.mark.parametrize("command", ["eval", "stream", "restore", "resume"])
def test_every_entry_point_refuses_a_crafted_checkpoint_in_one_line(finished, tmp_path, command):
    path, marker = craft(finished, tmp_path, "model.nested" if command != "resume" else "data")
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"")
    out = tmp_path / "out"
    args = {
        "eval": ["eval.py", f"ckpt_path={path}", f"output_dir={out}"],
        "stream": ["-m", "cnnlstm.stream", f"ckpt_path={path}", f"wav={wav}"],
        "restore": ["-m", "cnnlstm.restore", f"ckpt_path={path}", f"input={wav}", f"output={out}"],
        "resume": ["train.py", *QUICK, f"trainer.resume={path}", f"hydra.run.dir={out}"],
    }[command]
    before = tree(tmp_path)
    result = run_script(*args)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert "is not a cnnlstm class" in last and str(path) in last, last
    assert not marker.exists()
    assert tree(tmp_path) == before  # nothing written, nothing touched
    assert not out.exists() or not any(p for p in out.rglob("*") if p.is_file())


def test_the_users_own_class_can_be_trusted_by_the_user_not_by_the_file(finished, tmp_path, monkeypatch):
    ckpt = torch.load(finished / "checkpoints" / "best.pt", weights_only=True)
    ckpt["config"]["model"]["_target_"] = "mypkg.Net"
    torch.save(ckpt, tmp_path / "mine.pt")
    with pytest.raises(UntrustedTarget, match="CNNLSTM_TRUSTED_TARGETS=mypkg.Net"):
        load_checkpoint(tmp_path / "mine.pt")
    monkeypatch.setenv(ENV_VAR, "other.Thing, mypkg.Net")
    assert load_checkpoint(tmp_path / "mine.pt")["config"]["model"]["_target_"] == "mypkg.Net"


def test_every_target_our_configs_name_is_trusted():
    """A class added to ``conf/`` without being one of ours would make its checkpoints unloadable."""
    found = set()
    for path in CONF.rglob("*.yaml"):
        if path.parts[-2] in ("hydra", "launcher", "hparams_search"):
            continue  # Hydra's own plugins: never rebuilt from a checkpoint
        found |= {t for _, t in targets(OmegaConf.to_container(OmegaConf.load(path)))}
    assert found and all(is_trusted(t) for t in found), sorted(t for t in found if not is_trusted(t))


def test_composed_configs_of_every_model_pass_and_lists_are_searched():
    for model in ("cnn_lstm", "cldnn", "denoiser", "conv_autoencoder", "frame_dnn"):
        check_trusted(OmegaConf.to_container(compose_config(f"model={model}"), resolve=True), "x")
    config = {"a": [{"b": {"_target_": "cnnlstm.models.CLDNN"}}, {"_target_": "subprocess.run"}]}
    assert list(targets(config)) == [("a[0].b._target_", "cnnlstm.models.CLDNN"),
                                     ("a[1]._target_", "subprocess.run")]
    with pytest.raises(UntrustedTarget, match=r"a\[1\]._target_='subprocess.run'"):
        check_trusted(config, "study.yaml")
    with pytest.raises(UntrustedTarget, match="model._target_='os.system'"):
        check_trusted({}, "x", ["+model._target_=os.system"])
    assert not is_trusted(None) and not is_trusted(os.system)


def test_a_local_config_may_name_only_our_classes_unless_the_command_line_chooses(tmp_path):
    conf = tmp_path / "conf"
    subprocess.run(["cp", "-r", str(CONF), str(conf)], check=True)
    (conf / "local" / "default.yaml").write_text(
        "# @package _global_\nmodel:\n  _target_: os.system\n  command: touch ran\n")
    train_py = tmp_path / "train.py"
    train_py.write_text((CONF.parent / "train.py").read_text())
    result = run_script(str(train_py), *QUICK, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert "local/default.yaml: model._target_='os.system' is not a cnnlstm class" in last, last
    assert not (tmp_path / "ran").exists() and not (tmp_path / "run").exists()
    (conf / "local" / "default.yaml").write_text("# @package _global_\nmodel:\n  _target_: mypkg.Net\n")
    chosen = run_script(str(train_py), *QUICK, "model._target_=cnnlstm.models.CNNLSTM",
                        f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)  # the command line decides
    assert chosen.returncode == 0, chosen.stderr[-2000:]


def test_a_config_built_to_make_the_walk_endless_is_walked_once(tmp_path):
    node: list = ["x"]
    for _ in range(60):  # 2**60 paths by reference, 61 lists in the file
        node = [node, node]
    torch.save({"model": {}, "config": {"model": {"_target_": "cnnlstm.models.CLDNN", "a": node}}},
               tmp_path / "deep.pt")
    assert load_checkpoint(tmp_path / "deep.pt")["config"]["model"]["a"]
    with pytest.raises(UntrustedTarget, match="more than 1,000,000 entries"):
        check_trusted({"a": [[0] * 1000 for _ in range(1001)]}, "x")


def test_overrides_are_read_as_hydra_parses_them():
    for bad in ["model={_target_: os.system}", "model._target_=cnnlstm.models.CLDNN,os.system",
                "+model.x={y: {_target_: subprocess.run}}"]:
        with pytest.raises(UntrustedTarget, match="is not a cnnlstm class"):
            check_trusted({}, "study.yaml", [bad])
    with pytest.raises(UntrustedTarget, match="cannot be checked"):
        check_trusted({}, "study.yaml", ["model._target_=[unclosed"])
    check_trusted({}, "study.yaml", ["model._target_=cnnlstm.models.CLDNN,cnnlstm.models.CNNLSTM", "seed=1"])


@pytest.mark.parametrize("value", ["${oc.create:{_target_: os.system, _args_: [touch RAN]}}",
                                   "${oc.decode:'{_target_: os.system}'}", "${oc.env:HOME}"])
def test_an_interpolation_in_a_stored_config_is_refused_before_it_resolves(finished, tmp_path, value):
    ckpt = torch.load(finished / "checkpoints" / "best.pt", weights_only=True)
    ckpt["config"]["model"]["dropout"] = value.replace("RAN", str(tmp_path / "ran"))
    torch.save(ckpt, tmp_path / "interp.pt")
    result = run_script("eval.py", f"ckpt_path={tmp_path / 'interp.pt'}", f"output_dir={tmp_path / 'out'}")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "model.dropout holds the interpolation" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "ran").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("override", ["model.dropout='${oc.create:{_target_: torch.load}}'",
                                      "hydra.searchpath=[file:///tmp/evil]", "hydra/launcher=evil",
                                      "+model.x=${oc.decode:${data.s}}"])
def test_read_back_overrides_that_could_choose_code_without_naming_a_target_are_refused(override):
    with pytest.raises(UntrustedTarget, match="may hold only plain values"):
        check_trusted({}, "provenance.json", [override])


@pytest.mark.parametrize("config,weights", [({"model": {"_target_": "cnnlstm.models.CNNLSTM", "w": "T"}}, None),
                                            (None, "x")])
def test_a_malformed_checkpoint_is_one_line(finished, tmp_path, config, weights):
    ckpt = torch.load(finished / "checkpoints" / "best.pt", weights_only=True)
    if config is not None:
        ckpt["config"]["model"]["hidden_size"] = torch.zeros(2)  # not a config value
    if weights is not None:
        ckpt["model"] = weights
    torch.save(ckpt, tmp_path / "bad.pt")
    result = run_script("eval.py", f"ckpt_path={tmp_path / 'bad.pt'}", f"output_dir={tmp_path / 'out'}")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert str(tmp_path / "bad.pt") in result.stderr.strip().splitlines()[-1]
