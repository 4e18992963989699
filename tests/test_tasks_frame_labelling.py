import pytest
import torch
from conftest import compose_config

from cnnlstm.data.lookahead import LookaheadSymbols, lookahead_symbols
from cnnlstm.engine.run import train
from cnnlstm.models import CLDNN
from cnnlstm.tasks import FrameLabelling

TINY = [
    "model=cldnn_streaming", "data=lookahead", "data.n_train=512", "data.n_val=64", "data.n_test=128",
    "data.min_len=8", "data.max_len=24", "data.batch_size=32", "model.conv_channels=[4,4]",
    "model.hidden_size=24", "model.num_layers=1", "model.reduce_dim=8", "model.dnn_hidden=[24]",
    "model.dropout=0.0", "optimizer.lr=0.02", "trainer.max_epochs=3", "trainer.device=cpu",
    "trainer.progress=log", "logger=none", "task.tbptt_steps=6",
    "model.variant=cld", "model.x_to_lstm=true",  # the architecture this test was sized with, whatever the preset
]


def test_generated_labels_are_future_symbols():
    x, y, lengths = lookahead_symbols(3, torch.arange(50), num_symbols=4, lookahead=2, min_len=5, max_len=12,
                                      noise=0.0)
    for b in range(50):
        n = int(lengths[b])
        shown = x[b, :n].argmax(-1)
        assert torch.equal(y[b, :n - 2], shown[2:]) and bool((y[b, n - 2:] == -100).all())
        assert x[b, n:].abs().sum() == 0
    data = LookaheadSymbols(n_train=10, min_len=5, max_len=9, batch_size=4)
    assert data.model_args == {"in_features": 4, "num_outputs": 4}


def test_delay_shifts_outputs_and_scores_every_label():
    model = CLDNN(in_features=4, num_outputs=4, variant="lstm", hidden_size=8, proj_size=0, causal=True).eval()
    batch = {"x": torch.randn(2, 10, 4), "lengths": torch.tensor([10, 6]), "y": torch.randint(0, 4, (2, 10))}
    out = FrameLabelling(delay=3, tbptt_steps=None).step(model, batch).outputs
    padded = torch.cat([batch["x"], torch.zeros(2, 3, 4)], dim=1)
    full = model.frame_outputs(padded, batch["lengths"] + 3)[0]
    assert out.shape == (2, 10, 4)
    torch.testing.assert_close(out, full[:, 3:])


@pytest.mark.parametrize("delay,learns", [(2, True), (0, False)])
def test_delay_task_learns_only_with_the_delay(tmp_path, delay, learns):
    cfg = compose_config(*TINY, f"task.delay={delay}")
    metrics = train(cfg, tmp_path)
    acc = metrics["test/acc"]
    print(delay, metrics)
    assert (acc > 0.9) if learns else (acc < 0.45), acc  # chance is 0.25
