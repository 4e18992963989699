"""Every config in conf/ composes, and every buildable one instantiates."""

import pytest
import torch
from conftest import CONF, compose_config
from omegaconf import OmegaConf

from cnnlstm.engine.builder import build, build_optimizer, build_scheduler
from cnnlstm.engine.run import build_parts

# data options are built with a model that fits them (the default model reads video frames)
DATA_MODEL = {"japanese_vowels": "cldnn", "uea": "cldnn", "lookahead": "cldnn_streaming",
              "wav_folder": "cldnn_paper", "mnist": "denoiser", "image_folder": "denoiser"}
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
    cfg = compose_config(f"{group}={name}", *pair, "trainer.device=cpu")
    top = group.split("/")[0]
    if top not in BUILT and top not in ("experiment", "debug"):
        return  # launchers and sweepers: composing is what can be checked without running them
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
