"""CUDA graphs for fixed-shape training steps: when the graph is used, the setting errors, and (on a GPU) equivalence."""

import pytest
import torch
from conftest import TINY_SQUARES, compose_config
from torch import nn

from cnnlstm.engine.builder import build
from cnnlstm.engine.cuda_graphs import CudaGraphed, check_cuda_graphs
from cnnlstm.errors import ConfigError
from cnnlstm.models import CNNLSTM


class Recorder:
    """Stands in for make_graphed_callables on CPU: records the capture and marks calls as 'graphed'."""

    def __init__(self):
        self.captures = []
        self.graphed_calls = 0

    def __call__(self, module, samples):
        self.captures.append([tuple(s.shape) for s in samples])
        eager = module.forward

        def graphed(*args):
            self.graphed_calls += 1
            return eager(*args)

        module.forward = graphed
        return module


def test_graph_is_captured_once_and_replayed_only_for_the_same_shapes():
    model, recorder = nn.Linear(3, 2), Recorder()
    wrapped = CudaGraphed(model, make_graphed=recorder).train()
    x = torch.randn(4, 3)
    expected = model(x)
    torch.testing.assert_close(wrapped(x), expected)
    wrapped(torch.randn(4, 3))
    assert recorder.captures == [[(4, 3)]] and recorder.graphed_calls == 2 and wrapped.replays == 2
    wrapped(torch.randn(5, 3))  # a short last batch: eager
    wrapped(x.clone())  # the captured shape again: graphed
    assert recorder.graphed_calls == 3
    wrapped.eval()
    torch.testing.assert_close(wrapped(x), expected)  # eval: eager
    assert recorder.graphed_calls == 3 and len(recorder.captures) == 1


def test_capture_waits_for_a_full_batch():
    recorder = Recorder()
    wrapped = CudaGraphed(nn.Linear(3, 2), batch_size=4, make_graphed=recorder).train()
    wrapped(torch.randn(2, 3))  # a resume starting on an epoch's short last batch: eager, no capture
    assert recorder.captures == []
    wrapped(torch.randn(4, 3))
    wrapped(torch.randn(4, 3))
    assert recorder.captures == [[(4, 3)]] and recorder.graphed_calls == 2


def test_the_denoiser_still_gets_its_target_through_the_wrapper():
    from cnnlstm.models import CNNLSTMDenoiser
    from cnnlstm.tasks.restoration import accepts_target

    denoiser = CNNLSTMDenoiser(image_size=8, conv_channels=[2], context_size=4, hidden_size=4)
    assert accepts_target(CudaGraphed(denoiser, make_graphed=Recorder()))
    assert not accepts_target(CudaGraphed(nn.Linear(2, 2), make_graphed=Recorder()))


def test_keyword_inputs_run_eagerly():
    recorder = Recorder()
    wrapped = CudaGraphed(nn.Identity(), make_graphed=recorder).train()
    wrapped(input=torch.ones(2))
    assert recorder.captures == []


def test_settings_that_cannot_use_graphs_are_one_error():
    with pytest.raises(ConfigError, match="cuda_graphs=true needs trainer.device=cuda"):
        build(compose_config("trainer.device=cpu", "trainer.cuda_graphs=true").trainer, "trainer")
    cuda = torch.device("cuda")
    for args, message in [((cuda, "true", 1, False, False), "replaces trainer.compile"),
                          ((cuda, "false", 2, False, False), "accumulate_grad_batches=1"),
                          ((cuda, "false", 1, True, False), "activation_checkpointing"),
                          ((cuda, "false", 1, False, True), "single-process")]:
        with pytest.raises(ConfigError, match=message):
            check_cuda_graphs(*args)
    check_cuda_graphs(cuda, "false", 1, False, False)  # a setting that can


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_graphed_training_matches_eager_on_cuda():
    def losses(graphed: bool) -> list[float]:
        torch.manual_seed(0)
        model = CNNLSTM(frame_size=16, hidden_size=16).cuda()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        forward = CudaGraphed(model, batch_size=8) if graphed else model
        x = torch.rand(8, 6, 1, 16, 16, device="cuda")
        y = torch.randint(0, 2, (8, 1), device="cuda").float()
        out = []
        for _ in range(5):
            loss = nn.functional.binary_cross_entropy_with_logits(forward.train()(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            out.append(loss.item())
        assert not graphed or forward.replays == 5
        return out

    assert losses(True) == pytest.approx(losses(False), rel=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_trainer_runs_with_cuda_graphs(tmp_path):
    from cnnlstm.engine.run import train

    tiny = [o for o in TINY_SQUARES if not o.startswith("trainer.device")]
    metrics = train(compose_config(*tiny, "trainer.device=cuda", "trainer.cuda_graphs=true",
                                   "data.drop_last=true", "logger=none"), tmp_path)
    assert 0 <= metrics["test/acc"] <= 1
