"""Declared argument constraints (cnnlstm.arguments) and the one line a broken one becomes."""

from collections.abc import Sequence
from typing import Literal

import pytest

from cnnlstm.arguments import PositiveInt, Probability, UnitInterval, ValidationError, checked, first_problem
from cnnlstm.models import CLDNN, CNNLSTM, CNNLSTMDenoiser, ConvAutoencoder


class Block:
    @checked
    def __init__(self, width: PositiveInt, kernels: PositiveInt | Sequence[PositiveInt] = 3,
                 mode: Literal["fast", "exact"] = "fast", dropout: Probability = 0.0,
                 ratio: UnitInterval = 1.0, limit: PositiveInt | None = None) -> None:
        self.width, self.kernels = width, kernels


def problem(**kwargs) -> str:
    with pytest.raises(ValidationError) as error:
        Block(**kwargs)
    return first_problem(error.value, Block)


@pytest.mark.parametrize("kwargs,line", [
    ({"width": 0}, "width must be >= 1, got 0"),
    ({"width": "5"}, "width must be an integer, got '5'"),
    ({"width": True}, "width must be an integer, got True"),
    ({"width": 2, "kernels": 0}, "kernels must be >= 1, got 0"),  # an int or a list: the bound is what counts
    ({"width": 2, "kernels": [3, 0, 1]}, "kernels[1] must be >= 1, got 0"),
    ({"width": 2, "mode": "slow"}, "mode must be one of ['fast', 'exact'], got 'slow'"),
    ({"width": 2, "dropout": 1}, "dropout must be in [0, 1), got 1"),
    ({"width": 2, "ratio": 2.5}, "ratio must be in [0, 1], got 2.5"),
    ({"width": 2, "limit": 0}, "limit must be >= 1, got 0"),  # None is allowed, 0 is not
    ({"width": 2, "widht": 3}, "widht is not an argument of Block (it takes: width, kernels, mode, dropout, "
                               "ratio, limit)"),
    ({}, "width must be set"),
])
def test_first_problem_is_one_line_naming_the_argument(kwargs, line):
    assert problem(**kwargs) == line


def test_positional_arguments_are_named():
    with pytest.raises(ValidationError) as error:
        Block(4, [1, -2])
    assert first_problem(error.value, Block) == "kernels[1] must be >= 1, got -2"


def test_an_int_for_a_float_is_fine_and_the_values_arrive_as_given():
    block = Block(3, [1, 2], dropout=0, ratio=1)
    assert block.width == 3 and list(block.kernels) == [1, 2]


@pytest.mark.parametrize("model,kwargs", [
    (CNNLSTM, {"hidden_size": 0}), (CNNLSTMDenoiser, {"hidden_size": 0}),
    (CLDNN, {"in_features": 12, "num_outputs": 3, "hidden_size": 0}), (ConvAutoencoder, {"in_channels": 0}),
])
def test_models_built_without_hydra_check_their_arguments(model, kwargs):
    with pytest.raises(ValidationError) as error:
        model(**kwargs)
    name = next(iter(k for k in kwargs if kwargs[k] == 0))
    assert first_problem(error.value, model) == f"{name} must be >= 1, got 0"


def test_a_cldnn_front_end_error_names_the_frontend_key():
    from cnnlstm.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^frontend\.hop_ms must be > 0, got 0$"):
        CLDNN(num_outputs=3, sample_rate=8000, frontend={"hop_ms": 0})
    with pytest.raises(ConfigError, match=r"^frontend\.n_mel is not an argument of LogMel"):
        CLDNN(num_outputs=3, sample_rate=8000, frontend={"n_mel": 20})
