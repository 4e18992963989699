import numpy as np
import pytest
import torch
from conftest import argument_error

from cnnlstm.errors import ConfigError
from cnnlstm.nn.log_mel import LogMel, mel_filterbank


def test_frames_shapes_and_lengths():
    frontend = LogMel(sample_rate=16000, n_mels=40, deltas=2, normalize="none")
    feats, frames = frontend(torch.randn(3, 16000), torch.tensor([16000, 8000, 399]))
    assert feats.shape == (3, 98, 120) and frames.tolist() == [98, 48, 0]
    assert feats[1, 48:].abs().sum() == 0  # zeros past each end


def test_a_tone_peaks_in_its_mel_band():
    frontend = LogMel(sample_rate=16000, normalize="none")
    t = torch.arange(16000) / 16000
    low, _ = frontend(torch.sin(2 * torch.pi * 300 * t)[None])
    high, _ = frontend(torch.sin(2 * torch.pi * 3000 * t)[None])
    assert low.mean(1).argmax() < high.mean(1).argmax()
    fb = mel_filterbank(257, 16000, 40, 0, 8000)
    assert fb.shape == (257, 40) and torch.all(fb.max(0).values > 0.5)


@pytest.mark.parametrize("normalize,deltas", [("none", 0), ("utterance", 2), ("global", 1)])
def test_padding_invariant(normalize, deltas):
    frontend = LogMel(sample_rate=8000, normalize=normalize, deltas=deltas)
    frontend.train()(torch.randn(4, 6000))  # some global statistics
    frontend.eval()
    wave = torch.randn(2, 8000)
    wave[1, 5000:] = 3.0  # garbage in the padding
    batch, frames = frontend(wave, torch.tensor([8000, 5000]))
    alone, n = frontend(wave[1:, :5000])
    assert frames[1] == n[0]
    torch.testing.assert_close(batch[1, :n[0]], alone[0], rtol=1e-5, atol=1e-5)


def test_global_statistics_come_from_training_mode_only():
    frontend = LogMel(sample_rate=8000)
    frontend.eval()(torch.randn(2, 8000))
    assert frontend.stat_count == 0
    frontend.train()(torch.randn(2, 8000), torch.tensor([8000, 4000]))
    assert frontend.stat_count == 98 + 48  # valid frames only
    feats, _ = frontend.eval()(torch.randn(64, 8000))
    assert abs(float(feats.mean())) < 0.2 and 0.7 < float(feats.std()) < 1.3


@pytest.mark.parametrize("chunk", [1, 7, 160 * 7 + 3, 8000])
def test_stream_equals_offline(chunk):
    frontend = LogMel(sample_rate=8000, normalize="global")
    frontend.train()(torch.randn(2, 8000))
    frontend.eval()
    wave = torch.randn(1, 8000)
    offline, _ = frontend(wave)
    outs, state = [], None
    for piece in wave.split(chunk, dim=1):
        out, state = frontend.stream(piece, state)
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs, 1), offline, rtol=1e-5, atol=1e-5)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="fmin and fmax"):
        LogMel(sample_rate=8000, fmax=6000)
    with argument_error(r"^normalize must be one of \['none', 'utterance', 'global'\], got 'batch'$", LogMel):
        LogMel(normalize="batch")
    with pytest.raises(ConfigError, match=r"^hop_ms must be at least one sample \(0.125 ms at 8000 Hz\), got 0.01$"):
        LogMel(sample_rate=8000, hop_ms=0.01)
    with pytest.raises(ValueError, match="deltas=0"):
        LogMel(deltas=1).stream(torch.zeros(1, 400))
    assert np.isclose(LogMel(sample_rate=16000).win, 400)
