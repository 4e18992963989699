"""Build the parts of a run from a composed config (or the config a checkpoint carries); a bad
value is one line naming its full key."""

from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException
from torch import nn

from cnnlstm.arguments import NonNegativeFloat, PositiveFloat, ValidationError, checked, first_problem
from cnnlstm.engine.checkpoint import load_checkpoint, load_weights
from cnnlstm.engine.ema import inference_weights
from cnnlstm.errors import CheckpointError, ConfigError, UserError, first_line


def build(node: DictConfig, key: str, **kwargs):
    """``instantiate(node, **kwargs)`` with plain lists and dicts; errors become one ConfigError
    line that names ``key``: ``model.hidden_size must be >= 1, got 0``."""
    if not isinstance(node, Mapping) or "_target_" not in node:
        raise ConfigError(f"{key} must be a config with a _target_, got {OmegaConf.to_yaml(node).strip()!r}")
    try:
        return instantiate(node, _convert_="all", **kwargs)
    except MissingMandatoryValue as e:
        raise ConfigError(f"{e.full_key} must be set (it is ???): add {e.full_key}=... to the command") from None
    except (InstantiationException, UserError, ValidationError, TypeError, ValueError) as e:
        raise as_config_error(e, key, _target_object(node.get("_target_"))) from None


def as_config_error(error: BaseException, key: str, target=None) -> UserError:
    """The one-line error of a failed constructor ``target``, prefixed with its config group ``key``."""
    error = error.__cause__ if isinstance(error, InstantiationException) and error.__cause__ else error
    if isinstance(error, ValidationError):
        return ConfigError(f"{key}.{first_problem(error, target)}")
    message = first_line(error)
    if isinstance(error, ConfigError):
        return ConfigError(message if message.startswith(f"{key}.") else f"{key}.{message}")
    if isinstance(error, UserError):
        return type(error)(message)
    return ConfigError(f"{key}: {message}")


def _target_object(target: str | None):
    try:
        return get_object(target) if target else None
    except Exception:  # an unimportable target is reported by instantiate itself
        return None


def build_model(node: DictConfig, inferred: Mapping[str, object]):
    """Build the model, filling each argument the config leaves ``null`` from ``inferred`` (the
    model arguments the data determines: input width, class count, sample rate ...).

    So ``model=cldnn`` takes its input width and class count from whatever data it is given,
    while an explicit value in the config still wins.
    """
    fill = {k: v for k, v in inferred.items() if k in node and node[k] is None}
    try:
        return build(node, "model", **fill)
    except ConfigError as e:
        unfilled = [f"model.{k}" for k, v in node.items() if v is None and k not in fill]
        if not unfilled or "must be set" not in str(e):  # only an error about a missing size gets the hint
            raise
        raise ConfigError(f"{e} ({', '.join(unfilled)} left null and not given by this data: set them, "
                          "or pick data that fits this model)") from None


@checked
def _optimizer_numbers(lr: PositiveFloat | None = None, weight_decay: NonNegativeFloat | None = None, **_) -> None:
    """The arguments every torch optimizer shares, declared (torch's own classes declare nothing)."""


def build_optimizer(node: DictConfig, params):
    """Build the optimizer from a partial config; its shared arguments are checked first."""
    _call(_optimizer_numbers, "optimizer", **{k: v for k, v in node.items() if k in ("lr", "weight_decay")})
    return _call(build(node, "optimizer"), "optimizer", params)


def build_scheduler(node: DictConfig, optimizer, total_steps: int):
    """Build the LR schedule from a partial config; it receives the run's optimizer steps."""
    return _call(build(node, "scheduler"), "scheduler", optimizer, total_steps=total_steps)


def _call(factory, key: str, *args, **kwargs):
    try:
        return factory(*args, **kwargs)
    except (UserError, ValidationError, TypeError, ValueError) as e:
        raise as_config_error(e, key, getattr(factory, "func", factory)) from None  # a partial's function


def stored_config(ckpt: dict, path: str | Path, *sections: str) -> DictConfig:
    """The run config a checkpoint carries; it must have each of ``sections`` (``model``, ``data``)."""
    try:
        cfg = OmegaConf.create(ckpt.get("config") or {})
    except OmegaConfBaseException as e:
        raise CheckpointError(f"checkpoint {path} carries a config that is not one: {first_line(e)}") from None
    if any(section not in cfg for section in sections):
        raise CheckpointError(f"checkpoint {path} carries no config; it was not written by cnnlstm train")
    return cfg


def load_trained_model(path: str | Path, model_args: Mapping | Callable[[DictConfig, dict], Mapping],
                       device: str | torch.device = "cpu", ckpt: dict | None = None) -> tuple[nn.Module, DictConfig]:
    """The one "checkpoint -> config -> model with weights" loader (``eval.py``, ``cnnlstm.stream``,
    ``cnnlstm.restore``): rebuilds the stored model config with ``model_args`` (the arguments the
    data decides; a callable gets the config and the inference weights), loads the inference
    weights (the moving average when there is one), in eval mode on ``device``."""
    ckpt = ckpt if ckpt is not None else load_checkpoint(path, map_location=device)
    cfg = stored_config(ckpt, path, "model")
    weights = inference_weights(ckpt)
    model = build_model(cfg.model, model_args(cfg, weights) if callable(model_args) else model_args)
    load_weights(model, weights, path)
    return model.to(device).eval(), cfg
