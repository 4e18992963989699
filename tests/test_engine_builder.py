import pytest
import torch
from conftest import compose_config

from cnnlstm.engine.builder import build, build_model, build_optimizer
from cnnlstm.errors import ConfigError


@pytest.mark.parametrize("override,message", [
    ("trainer.precision=8", "trainer.precision must be one of"),
    ("trainer.max_epochs=0", "trainer.max_epochs must be >= 1, got 0"),
    ("trainer.monitor_mode=up", "trainer.monitor_mode must be one of ['min', 'max']"),
    ("+trainer.nope=1", "trainer.nope is not an argument of Trainer"),
])
def test_trainer_errors_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build(compose_config(override).trainer, "trainer")


def test_model_errors_name_the_key():
    cfg = compose_config("model.hidden_size=abc")
    with pytest.raises(ConfigError, match="model.hidden_size must be an integer, got 'abc'"):
        build_model(cfg.model, {"frame_size": 50, "in_channels": 1, "num_outputs": 1})


def test_null_model_arguments_come_from_the_data_and_explicit_values_win():
    cfg = compose_config("model.num_outputs=3")
    model = build_model(cfg.model, {"frame_size": 20, "in_channels": 1, "num_outputs": 1})
    assert model.frame_size == (20, 20) and model.head[-1].out_features == 3


def test_optimizer_learning_rate_checked():
    cfg = compose_config("optimizer.lr=0")
    with pytest.raises(ConfigError, match="optimizer.lr must be > 0, got 0"):
        build_optimizer(cfg.optimizer, [])


def test_a_string_for_a_numeric_argument_names_the_key():
    cfg = compose_config("optimizer=adamw", "optimizer.weight_decay=abc")
    with pytest.raises(ConfigError, match="optimizer.weight_decay must be a number, got 'abc'"):
        build_optimizer(cfg.optimizer, [torch.nn.Parameter(torch.zeros(1))])


def test_trainer_errors_name_the_key_once():
    with pytest.raises(ConfigError, match=r"^trainer.precision must be one of"):
        build(compose_config("trainer.precision=abc").trainer, "trainer")


def test_a_model_left_without_a_size_says_which_null_key_the_data_lacks():
    with pytest.raises(ConfigError, match=r"model.num_outputs left null and not given by this data"):
        build_model(compose_config("model=cnn_lstm").model, {"frame_size": 28, "in_channels": 1})


def test_a_missing_value_is_named_and_other_model_errors_get_no_null_hint():
    with pytest.raises(ConfigError, match=r"data.root must be set \(it is \?\?\?\)"):
        build(compose_config("model=denoiser", "data=image_folder").data, "data")
    with pytest.raises(ConfigError) as error:
        build_model(compose_config("model=cldnn", "model.hidden_size=0").model, {"in_features": 12, "num_outputs": 9})
    assert "hidden_size" in str(error.value) and "left null" not in str(error.value)
