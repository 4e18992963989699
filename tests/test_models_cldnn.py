import pytest
import torch
from conftest import argument_error, compose_config

from cnnlstm.engine.builder import build_model
from cnnlstm.errors import ConfigError
from cnnlstm.models import CLDNN

TINY = dict(in_features=12, num_outputs=5, conv_channels=[6, 6], freq_kernels=[3, 2], time_kernels=[3, 2],
            freq_pools=[2, 1], left_context=3, right_context=0, reduce_dim=8, hidden_size=10, proj_size=0,
            num_layers=2, dnn_hidden=[12, 12])


def tiny(**kwargs) -> CLDNN:
    torch.manual_seed(0)
    return CLDNN(**(TINY | kwargs)).eval()


@pytest.mark.parametrize("variant,cnn,dnn", [("lstm", False, 0), ("ldnn", False, 2), ("cld", True, 0),
                                             ("cldnn", True, 2)])
@pytest.mark.parametrize("x_to_lstm,cnn_to_dnn", [(False, False), (True, True)])
def test_variants_and_multiscale_shapes(variant, cnn, dnn, x_to_lstm, cnn_to_dnn):
    model = tiny(variant=variant, x_to_lstm=x_to_lstm, cnn_to_dnn=cnn_to_dnn)
    assert (model.cnn is not None) == cnn
    assert sum(isinstance(m, torch.nn.Linear) for m in model.dnn) == dnn
    lstm_in = (8 + 12 * x_to_lstm) if cnn else 12  # reduce_dim (+ x_t) or the frame itself
    assert model.lstm.input_size == lstm_in
    dnn_in = (model.dnn[0] if dnn else model.output).in_features
    assert dnn_in == 10 + (8 if cnn and cnn_to_dnn else 0)
    x = torch.randn(3, 9, 12)
    assert model(x).shape == (3, 5)
    assert model.frame_outputs(x)[0].shape == (3, 9, 5)


def test_paper_sizes():
    model = CLDNN(in_features=40, num_outputs=10, proj_size=512)
    assert model.cnn.out_features == 256 * 7 and model.reduce.out_features == 256
    assert (model.lstm.hidden_size, model.lstm.proj_size, model.lstm.num_layers) == (832, 512, 2)
    assert [m.out_features for m in model.dnn if isinstance(m, torch.nn.Linear)] == [1024, 1024]
    nn = torch.nn
    assert [type(m) for m in model.dnn] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU]  # no Dropout at rate 0
    with_dropout = CLDNN(in_features=40, num_outputs=10, proj_size=512, dropout=0.1)
    assert [type(m) for m in with_dropout.dnn] == [nn.Linear, nn.ReLU, nn.Dropout] * 2


def test_samples_per_frame_is_the_front_end_hop():
    assert tiny().samples_per_frame == 1
    audio = CLDNN(num_outputs=3, sample_rate=8000, frontend={"hop_ms": 10.0}, hidden_size=8, proj_size=0,
                  reduce_dim=8, conv_channels=[4], freq_kernels=[3], time_kernels=[3], freq_pools=[1],
                  dnn_hidden=[8])
    assert audio.samples_per_frame == 80


def test_initialisation_follows_the_paper():
    model = tiny(lstm_init=0.02)
    assert all(p.abs().max() <= 0.02 for p in model.lstm.parameters())
    w = model.dnn[0].weight  # Glorot uniform: bound sqrt(6 / (fan_in + fan_out))
    assert w.abs().max() <= (6 / sum(w.shape)) ** 0.5 and w.abs().max() > 0.5 * (6 / sum(w.shape)) ** 0.5
    assert all(m.bias.abs().sum() == 0 for m in model.modules() if isinstance(m, torch.nn.Linear))


@pytest.mark.parametrize("name,module,learns", [("relu", torch.nn.ReLU, False), ("elu", torch.nn.ELU, True),
                                                  ("leaky_relu", torch.nn.LeakyReLU, True)])
def test_conv_activation_decides_whether_a_dead_conv_layer_still_learns(name, module, learns):
    """With every conv bias far negative (the state a dead ReLU layer trains into), relu passes no
    gradient to the first conv's weights; elu and leaky_relu still do."""
    model = tiny(conv_activation=name).train()
    assert {type(m) for m in model.cnn.modules()} & {torch.nn.ReLU, torch.nn.ELU, torch.nn.LeakyReLU} == {module}
    with torch.no_grad():
        for conv in (m for m in model.cnn.modules() if isinstance(m, torch.nn.Conv2d)):
            conv.bias.fill_(-5.0)  # every pre-activation below zero
    model(torch.randn(4, 9, 12)).sum().backward()
    first = next(m for m in model.cnn.modules() if isinstance(m, torch.nn.Conv2d))
    assert (first.weight.grad.abs().sum() > 0) == learns


def test_conv_activation_is_a_declared_choice():
    with argument_error("conv_activation", CLDNN):
        tiny(conv_activation="tanhh")


def test_geometry_error_names_layer_sizes_and_width():
    with pytest.raises(ConfigError, match=r"freq_kernels\[1\] = 4 .* 1 frequency bins .*layer 1 \(input width 12\)"):
        CLDNN(in_features=12, num_outputs=9)  # the paper's geometry on 12 features
    cfg = compose_config("model=cldnn_paper", "data=japanese_vowels")
    with pytest.raises(ConfigError, match=r"^model\.freq_kernels\[1\] = 4 is larger"):
        build_model(cfg.model, {"in_features": 12, "num_outputs": 9})  # raised at build, not mid-forward


@pytest.mark.parametrize("kwargs", [dict(bidirectional=True, right_context=2), dict(causal=True),
                                    dict(pool="last", right_context=1), dict(variant="ldnn", bidirectional=True)])
def test_padding_invariance(kwargs):
    """An utterance alone and padded among longer ones gives the same logits."""
    model = tiny(**kwargs)
    lengths = torch.tensor([25, 6, 17, 25])
    x = torch.randn(4, 25, 12)
    x[1, 6:] = 100.0  # whatever is in the padding must not matter
    batch = model(x, lengths)
    alone = torch.cat([model(x[i:i + 1, :n]) for i, n in enumerate(lengths.tolist())])
    torch.testing.assert_close(batch, alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_an_empty_utterance_is_handled_like_its_zero_padding(bidirectional):
    x = torch.randn(3, 8, 12)
    lengths = torch.tensor([8, 0, 5])
    mean = tiny(bidirectional=bidirectional)
    batch = mean(x, lengths)
    assert torch.equal(batch[1], torch.zeros(5))  # the mean of no frames: no evidence
    torch.testing.assert_close(batch[2:3], mean(x[2:3, :5]), rtol=1e-5, atol=1e-5)
    last = tiny(bidirectional=bidirectional, pool="last")  # the output at the first (padding) frame
    torch.testing.assert_close(last(x, lengths)[1:2], last(torch.zeros(1, 1, 12)), rtol=1e-5, atol=1e-5)
    model = mean
    with pytest.raises(ValueError, match=r"no frames.*\(2, 0, 12\)"):
        model(torch.zeros(2, 0, 12))


@pytest.mark.filterwarnings("ignore:LSTM with projections")
def test_lstm_recurrence_stays_float32_under_bf16_autocast():
    model = tiny(proj_size=6)
    x = torch.randn(2, 9, 12)
    reference = model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = model.lstm(model._encode(x, model.cnn(x))[0])[0]
        logits = model(x)
    assert h.dtype == torch.float32
    torch.testing.assert_close(logits.float(), reference, atol=3e-2, rtol=0)


def stream_all(model, x, chunk):
    outs, state = [], None
    for piece in x.split(chunk, dim=1):
        out, state = model.stream(piece, state)
        outs.append(out)
    return torch.cat(outs, dim=1)


@pytest.mark.parametrize("chunk", [1, 7, 31])
@pytest.mark.parametrize("variant", ["cldnn", "lstm"])
def test_streaming_equals_offline(chunk, variant):
    model = tiny(causal=True, variant=variant, x_to_lstm=True, cnn_to_dnn=True, proj_size=6)
    x = torch.randn(2, 31, 12)
    with torch.no_grad():
        torch.testing.assert_close(stream_all(model, x, chunk), model.frame_outputs(x)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("chunk", [1, 7, 2400])
def test_streaming_equals_offline_from_raw_audio(chunk):
    torch.manual_seed(0)
    model = CLDNN(**(TINY | dict(in_features=None)), causal=True, x_to_lstm=True, sample_rate=8000,
                  frontend={"n_mels": 20, "normalize": "global"})
    model.train()(torch.randn(3, 8000))  # global statistics from "training"
    model.eval()
    wave = torch.randn(1, 2400)  # 0.3 s at 8 kHz: 28 frames
    with torch.no_grad():
        offline, frames = model.frame_outputs(wave)
        streamed = stream_all(model, wave, chunk)
    assert streamed.shape == offline.shape == (1, int(frames[0]), 5)
    torch.testing.assert_close(streamed, offline, rtol=1e-5, atol=1e-5)


def test_stream_refuses_a_non_causal_model():
    with pytest.raises(ConfigError, match="causal"):
        tiny(right_context=2).stream(torch.randn(1, 4, 12))
    with pytest.raises(ConfigError, match="causal"):
        tiny(bidirectional=True).stream(torch.randn(1, 4, 12))
    assert tiny(right_context=2, bidirectional=True, causal=True).streamable


def test_truncated_bptt_cuts_the_gradient_not_the_outputs():
    model = tiny(causal=True).train()
    model.lstm.dropout = 0.0
    x = torch.randn(2, 12, 12, requires_grad=True)
    full = model.frame_outputs(x)[0]
    chunked = model.frame_outputs(x, tbptt_steps=4)[0]
    torch.testing.assert_close(full, chunked)
    chunked[:, 8:].sum().backward()  # the last chunk's loss
    grad = x.grad.abs().sum((0, 2))
    assert grad[:8 - 3].sum() == 0 and grad[8:].sum() > 0  # only conv context (3 frames) reaches back


@pytest.mark.parametrize("preset,dims,shape", [
    ("cldnn", {"in_features": 12, "num_outputs": 9}, (2, 20, 12)),
    ("cldnn_streaming", {"in_features": 12, "num_outputs": 9}, (2, 20, 12)),
    ("cldnn_paper", {"num_outputs": 4, "sample_rate": 16000}, (2, 3200)),
])
def test_presets_build_from_the_data_dims(preset, dims, shape):
    cfg = compose_config(f"model={preset}")
    model = build_model(cfg.model, dims).eval()
    assert model(torch.randn(*shape)).shape == (2, dims["num_outputs"])
    assert model.streamable == (preset != "cldnn")


def test_preset_fits_other_widths():
    cfg = compose_config("model=cldnn")
    for width in (1, 3, 6, 40):
        model = build_model(cfg.model, {"in_features": width, "num_outputs": 2})
        assert model(torch.randn(1, 5, width)).shape == (1, 2)


def test_model_cldnn_trains_on_japanese_vowels_and_writes_the_run_directory(tmp_path):
    from cnnlstm.engine.run import train

    cfg = compose_config("model=cldnn", "trainer.max_steps=3", "trainer.device=cpu", "trainer.progress=log", "logger=none",
                         "model.conv_channels=[4,4]", "model.hidden_size=8", "model.dnn_hidden=[8]")
    assert cfg.data.name == "JapaneseVowels" and cfg.trainer.max_epochs > 1  # the preset's defaults
    metrics = train(cfg, tmp_path)
    assert 0 <= metrics["test/acc"] <= 1 and metrics["steps"] == 3
    for name in ("model_summary.txt", "config.yaml", "metrics.json", "checkpoints/best.pt", "checkpoints/last.pt"):
        assert (tmp_path / name).is_file(), name
