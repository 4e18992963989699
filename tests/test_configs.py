"""Every config in conf/ composes, and every buildable one instantiates."""

import logging
import re

import pytest
import torch
from conftest import CONF, compose_config
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from speech_miniatures import make_speech_commands, make_timit

from cnnlstm.engine.builder import build, build_optimizer, build_scheduler
from cnnlstm.engine.run import build_parts, train

# data options are built with a model that fits them (the default model reads video frames)
DATA_MODEL = {"japanese_vowels": "cldnn", "uea": "cldnn", "lookahead": "cldnn_streaming", "timit": "cldnn",
              "speech_commands": "cldnn", "wav_folder": "cldnn_paper", "tones": "cldnn_paper", "mnist": "denoiser",
              "image_folder": "denoiser", "mnist_noise_only": "denoiser", "mnist_missing_half": "denoiser"}
MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
DATA = sorted(p.stem for p in (CONF / "data").glob("*.yaml"))
TONES = "cnnlstm.data.make_tones.tone_folder_data"
MINIATURES = {"cnnlstm.data.TIMIT": make_timit, "cnnlstm.data.SpeechCommands": make_speech_commands}
BUILT = {"model", "data", "task", "trainer", "optimizer", "scheduler", "logger"}
SKIP = {"hydra", "local"}


def options() -> list[tuple[str, str]]:
    found = []
    for group in sorted(p for p in CONF.rglob("*") if p.is_dir()):
        name = group.relative_to(CONF).as_posix()
        if name.split("/")[0] in SKIP and not name.startswith("hydra/launcher"):
            continue
        found += [(name, f.stem) for f in sorted(group.glob("*.yaml"))]
    return found


def model_of(specialization: str) -> str | None:
    """The model of ``<model>_<data>`` (the longest model name that prefixes it)."""
    return max((m for m in MODELS if specialization.startswith(m + "_")), key=len, default=None)


def missing_choices(group: str, name: str) -> list[str]:
    """``override /model: cldnn`` choices of a config whose option is not in conf/ (yet).

    Studies and searches for a model family that another branch adds are committed before it;
    their tests run once that model's config is there.
    """
    missing = []
    for entry in OmegaConf.load(CONF / group / f"{name}.yaml").get("defaults") or []:
        for key, value in (entry.items() if OmegaConf.is_dict(entry) else []):
            target = key.removeprefix("override").strip().lstrip("/").split("@")[0]
            if not target.startswith("hydra") and isinstance(value, str) and not (CONF / target / f"{value}.yaml").exists():
                missing.append(f"{target}={value}")
    return missing


def test_default_config_is_the_tutorial():
    cfg = compose_config()
    assert cfg.model._target_ == "cnnlstm.models.CNNLSTM"
    assert cfg.data._target_ == "cnnlstm.data.MovingSquares"
    for key in ("seed", "data.batch_size", "data.n_train", "data.n_val", "data.n_test", "data.size",
                "data.seq_len", "trainer.max_epochs", "trainer.max_steps", "trainer.device",
                "trainer.precision", "trainer.compile", "trainer.resume"):
        node = cfg
        for part in key.split("."):
            assert part in node, key
            node = node[part]


@pytest.mark.parametrize("group,name", options())
def test_config_composes_and_builds(group, name, tmp_path):
    if missing := missing_choices(group, name):
        pytest.skip(f"{group}={name} needs {', '.join(missing)}, not in conf/ on this branch")
    pair = [f"model={DATA_MODEL[name]}"] if group == "data" and name in DATA_MODEL else []
    chosen = [f"{group}={name}"]
    if group == "model_data":  # a specialization is chosen by its model and data, never by name
        chosen = [f"model={model}", f"data={name.removeprefix(model + '_')}"] if (model := model_of(name)) else []
        assert chosen and name.removeprefix(model + "_") in DATA, f"conf/model_data/{name}.yaml names no <model>_<data>"
    cfg = compose_config(*chosen, *pair, "trainer.device=cpu")
    if cfg.data._target_ == TONES:
        cfg.data.root = str(tmp_path / "tones")  # generated on first use: not into the working directory
    top = group.split("/")[0]
    if top not in BUILT and top not in ("experiment", "debug"):
        return  # launchers and sweepers: composing is what can be checked without running them
    if str(cfg.data.get("root") or "").startswith("data/synth/"):
        # a study's generated corpus (make reproduce writes it): build on a miniature of its layout
        cfg.data.root = str(MINIATURES[cfg.data._target_](tmp_path / "corpus"))
        if "words" in cfg.data:
            cfg.data.words = ["yes", "no", "up"]  # the miniature's commands
    if "root" in cfg.data.keys() and (OmegaConf.is_missing(cfg.data, "root") or cfg.data.root is None):
        # data read from the user's folder (data.root=DIR): composing works, building names the key
        with pytest.raises(Exception, match="root"):
            build_parts(cfg, torch.device("cpu"))
        return
    trainer = build(cfg.trainer, "trainer")
    data, task, model = build_parts(cfg, torch.device("cpu"))
    optimizer = build_optimizer(cfg.optimizer, model.parameters())
    build_scheduler(cfg.scheduler, optimizer, trainer.optimizer_steps(data.num_batches("train")))
    logger = build(cfg.logger, "logger", log_dir=str(tmp_path / "tb"))
    logger.close()
    batch = data.example_batch(2)
    args, kwargs = task.model_inputs(batch)
    model.eval()
    with torch.no_grad():
        out = model(*args, **kwargs)
    assert torch.isfinite(out).all()


def choices(*overrides: str) -> dict[str, str]:
    """The group choices Hydra makes for these overrides (hydra.runtime.choices)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return dict(compose(config_name="config", overrides=list(overrides), return_hydra_config=True).hydra.runtime.choices)


def test_a_specialization_applies_to_its_model_and_data_only():
    """conf/model_data/cldnn_streaming_speech_commands.yaml: chosen by the pair, command line still wins."""
    cfg = compose_config("model=cldnn_streaming", "data=speech_commands")
    assert (cfg.model.pool, cfg.model.conv_activation, cfg.data.batch_size, cfg.trainer.monitor) == (
        "mean", "elu", 8, "val/acc")
    assert compose_config("model=cldnn_streaming", "data=speech_commands", "model.pool=last").model.pool == "last"
    kws = compose_config("experiment=kws_streaming")  # the experiment chooses the pair in its own defaults
    assert (kws.model.pool, kws.data.batch_size, kws.trainer.monitor) == ("mean", 8, "val/acc")
    for other in (["model=cldnn_streaming"], ["model=cldnn", "data=speech_commands"]):
        assert "conv_activation" not in compose_config(*other).model


@pytest.mark.parametrize("name", MODELS)
def test_every_model_says_what_it_changes(name):
    """Each model config's header names every group it (and the data it picks) chooses, and --cfg job."""
    header = (CONF / "model" / f"{name}.yaml").read_text().split("defaults:")[0]
    assert "--cfg job" in header
    picked = choices(f"model={name}")
    for group in ("data", "task", "trainer", "optimizer", "scheduler"):
        assert f"{group}={picked[group]}" in header, f"conf/model/{name}.yaml does not say {group}={picked[group]}"


@pytest.mark.parametrize("name", MODELS)
def test_presets_inherit_and_list_only_what_differs(name):
    """A preset built on another model file (``defaults: [base, ...]``) sets only the keys that differ."""
    own = OmegaConf.load(CONF / "model" / f"{name}.yaml")
    bases = [d for d in own.get("defaults", []) if isinstance(d, str) and d != "_self_"]
    if not bases:
        return
    base, preset = compose_config(f"model={bases[0]}").model, compose_config(f"model={name}").model
    assert set(own) - {"defaults"} == {k for k in preset if k not in base or base[k] != preset[k]}


def test_cldnn_paper_choices():
    """cldnn_paper inherits model=cldnn but not its tuned training setting, and runs offline (data=tones)."""
    picked = choices("model=cldnn_paper")
    assert [picked[g] for g in ("data", "task", "trainer", "optimizer", "scheduler")] == [
        "tones", "classification", "default", "adam", "cosine"]
    assert "cldnn" in OmegaConf.load(CONF / "model" / "cldnn_paper.yaml").defaults


def debug_pairs() -> list[tuple[str, str]]:
    """``(model, data)`` for every model with its own data, and every data with the model that fits it."""
    pairs = [(m, None) for m in MODELS]
    return pairs + [(DATA_MODEL.get(d, "cnn_lstm"), d) for d in DATA]


@pytest.mark.parametrize("model,data", debug_pairs())
@pytest.mark.parametrize("debug", sorted(p.stem for p in (CONF / "debug").glob("*.yaml")))
def test_debug_modes_fit_every_model_and_data(model, data, debug, tmp_path):
    """debug=... only changes trainer (and logger) keys, so it composes and builds with anything."""
    chosen = [f"model={model}"] + ([f"data={data}"] if data else [])
    plain, cfg = compose_config(*chosen), compose_config(*chosen, f"debug={debug}")
    for key in cfg:
        if key not in ("trainer", "logger"):
            assert cfg[key] == plain[key], f"debug={debug} changes {key}"
    t = cfg.trainer  # a short run on any data: a step limit, or few epochs of few batches
    assert 0 < (t.max_steps if t.max_steps > 0 else t.max_epochs * (t.overfit_batches or 10**9)) <= 100
    build(cfg.trainer, "trainer")  # the data, task and model are those test_config_composes_and_builds builds
    build(cfg.logger, "logger", log_dir=str(tmp_path / "tb")).close()


# Smaller data for the end-to-end debug runs (the debug config itself has only trainer keys): the
# models at their preset sizes, a few steps each, about a minute for all on the 2-core CPU.
SMALL = {
    "cnn_lstm": ["data.size=16", "data.seq_len=8", "data.n_val=16", "data.n_test=16", "data.batch_size=8"],
    "cnn_lstm_large": ["data.size=16", "data.seq_len=8", "data.n_val=16", "data.n_test=16", "data.batch_size=4"],
    "cldnn": ["data.batch_size=8"],
    "cldnn_streaming": ["data.batch_size=8"],
    "cldnn_paper": ["data.files_per_class=4", "data.length=1600", "data.batch_size=2"],
    "frame_dnn": ["data.files_per_class=4", "data.length=1600", "data.batch_size=2"],
    "denoiser": ["data.n_train=64", "data.n_val=16", "data.n_test=16", "data.batch_size=8"],
    "conv_autoencoder": ["data.n_train=64", "data.n_val=16", "data.n_test=16", "data.batch_size=8"],
}


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_debug_default_runs_every_model(model, tmp_path):
    """``python train.py model=X debug=default`` trains its 4 steps, validates and tests, for every model."""
    overrides = [f"model={model}", "debug=default", *SMALL.get(model, [])]
    cfg = compose_config(*overrides)
    if cfg.data._target_ == TONES:
        cfg.data.root = str(tmp_path / "tones")
    metrics = train(cfg, tmp_path / "run")
    assert metrics["steps"] == 4 and (tmp_path / "run" / "metrics.json").is_file()
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())


@pytest.mark.slow
def test_debug_overfit_drives_the_training_loss_to_zero(tmp_path, caplog):
    """debug=overfit on the tutorial model (smaller frames): the loss on its one batch falls close to 0."""
    cfg = compose_config("debug=overfit", "logger=none", "trainer.device=cpu", *SMALL["cnn_lstm"])
    with caplog.at_level(logging.INFO):
        metrics = train(cfg, tmp_path)
    losses = [float(m) for m in re.findall(r"step \d+/\d+ loss=([0-9.e+-]+)", caplog.text)]
    assert metrics["steps"] == cfg.trainer.max_epochs and len(losses) >= 3
    assert losses[-1] < 0.05 < losses[0]


@pytest.mark.slow
def test_debug_profile_writes_a_trace(tmp_path):
    cfg = compose_config("debug=profile", "trainer.device=cpu", *SMALL["cnn_lstm"])
    train(cfg, tmp_path)
    assert list(tmp_path.glob("*.pt.trace.json"))
