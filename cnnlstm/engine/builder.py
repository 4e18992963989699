"""Build the parts of a run from a composed config, turning constructor errors into config errors."""

import inspect
from collections.abc import Mapping

from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from cnnlstm.errors import ConfigError, UserError


def build(node: DictConfig, key: str, **kwargs):
    """``instantiate(node, **kwargs)``; errors become one ConfigError line that names ``key``.

    Constructor checks raise messages that start with the argument's name, so the user sees
    ``data.batch_size must be >= 1, got 0``.
    """
    if not isinstance(node, Mapping) or "_target_" not in node:
        raise ConfigError(f"{key} must be a config with a _target_, got {OmegaConf.to_yaml(node).strip()!r}")
    try:
        _check_numbers(node, key)
        return instantiate(node, **kwargs)
    except MissingMandatoryValue as e:
        raise ConfigError(f"{e.full_key} must be set (it is ???): add {e.full_key}=... to the command") from None
    except InstantiationException as e:
        raise _as_config_error(e.__cause__ or e, key) from None
    except UserError as e:
        raise _as_config_error(e, key) from None
    except (TypeError, ValueError) as e:
        raise _as_config_error(e, key) from None


def _check_numbers(node: DictConfig, key: str) -> None:
    """A string where the target's argument defaults to a number (``weight_decay=abc``) is an
    error naming the key, rather than a TypeError deep inside the constructor."""
    try:
        params = inspect.signature(get_object(node["_target_"])).parameters
    except Exception:  # an unimportable target is reported by instantiate itself
        return
    for name in node:
        if OmegaConf.is_missing(node, name) or OmegaConf.is_interpolation(node, name):
            continue  # instantiate reports a ??? value itself; an interpolation's target is checked where it lives
        value, default = node[name], params[name].default if name in params else None
        if isinstance(value, str) and isinstance(default, (int, float)) and not isinstance(default, bool):
            kind = "an integer" if isinstance(default, int) else "a number"
            raise ConfigError(f"{key}.{name} must be {kind}, got {value!r}")


def _as_config_error(error: BaseException, key: str) -> ConfigError:
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, ConfigError):
        return ConfigError(message if message.startswith(f"{key}.") else f"{key}.{message}")
    if isinstance(error, UserError):
        return type(error)(message)
    return ConfigError(f"{key}: {message}")


def build_model(node: DictConfig, data_dims: Mapping[str, object]):
    """Build the model, filling each argument the config leaves ``null`` from the data's ``dims``.

    So ``model=cldnn`` takes its input width and class count from whatever data it is given,
    while an explicit value in the config still wins.
    """
    fill = {k: v for k, v in data_dims.items() if k in node and node[k] is None}
    try:
        return build(node, "model", **fill)
    except ConfigError as e:
        unfilled = [f"model.{k}" for k, v in node.items() if v is None and k not in fill]
        if not unfilled or "None" not in str(e):  # only an error about a missing size gets the hint
            raise
        raise ConfigError(f"{e} ({', '.join(unfilled)} left null and not given by this data: set them, "
                          "or pick data that fits this model)") from None


def build_optimizer(node: DictConfig, params):
    """Build the optimizer from a partial config, checking the learning rate first."""
    lr = node.get("lr")
    if lr is not None and (not isinstance(lr, (int, float)) or isinstance(lr, bool) or lr <= 0):
        raise ConfigError(f"optimizer.lr must be a number > 0, got {lr!r}")
    factory = build(node, "optimizer")
    try:
        return factory(params)
    except (TypeError, ValueError) as e:
        raise _as_config_error(e, "optimizer") from None


def build_scheduler(node: DictConfig, optimizer, total_steps: int):
    """Build the LR schedule from a partial config; it receives the run's optimizer steps."""
    factory = build(node, "scheduler")
    try:
        return factory(optimizer, total_steps=total_steps)
    except (TypeError, ValueError) as e:
        raise _as_config_error(e, "scheduler") from None
