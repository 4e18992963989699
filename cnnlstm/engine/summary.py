"""The torchinfo model summary, printed and saved into the run directory."""

from pathlib import Path

import torchinfo
from torch import nn

from cnnlstm.files import write_atomic


def model_summary(model: nn.Module, args: tuple, kwargs: dict, path: str | Path | None = None) -> str:
    """Layer table with output shapes and parameter counts for one example batch."""
    stats = torchinfo.summary(
        model,
        input_data=list(args),
        depth=4,
        col_names=("input_size", "output_size", "num_params"),
        row_settings=("var_names",),
        verbose=0,
        device=next(model.parameters()).device,
        **kwargs,
    )
    text = str(stats)
    if path is not None:
        write_atomic(path, (text + "\n").encode())  # replaces a link at ``path``, never writes through it
    return text
