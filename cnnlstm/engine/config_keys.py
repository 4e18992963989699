"""Nested configs as flat dotted keys: what resume compares and what TensorBoard's HParams shows."""


def flatten(config: dict, prefix: str = "") -> dict[str, object]:
    """``{"data": {"n_train": 5}} -> {"data.n_train": 5}`` (an empty dict stays a value)."""
    flat: dict[str, object] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat |= flatten(value, f"{name}.")
        else:
            flat[name] = value
    return flat
