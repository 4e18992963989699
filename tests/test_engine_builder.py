import pytest
from conftest import compose_config

from cnnlstm.engine.builder import build, build_model, build_optimizer
from cnnlstm.errors import ConfigError


@pytest.mark.parametrize("override,message", [
    ("trainer.precision=8", "trainer.precision must be one of"),
    ("trainer.max_epochs=0", "trainer.max_epochs must be >= 1, got 0"),
    ("trainer.monitor_mode=up", "trainer.monitor_mode must be one of ['min', 'max']"),
    ("+trainer.nope=1", "trainer: "),
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
    with pytest.raises(ConfigError, match="optimizer.lr must be a number > 0, got 0"):
        build_optimizer(cfg.optimizer, [])
