import pytest
import torch
from conftest import compose_config

from cnnlstm.data.make_tones import make_tone_folder
from cnnlstm.engine.run import evaluate, train
from cnnlstm.stream import load_streaming_model, main, stream_file

TINY_AUDIO = [
    "data=wav_folder", "data.sample_rate=8000", "data.batch_size=8", "model.conv_channels=[4,4]",
    "model.hidden_size=16", "model.num_layers=1", "model.reduce_dim=8", "model.dnn_hidden=[16]",
    "model.frontend.n_mels=20", "trainer.max_epochs=2", "trainer.device=cpu", "trainer.progress=log",
    "logger=none", "optimizer.lr=0.01",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A streamable CLDNN trained for a few steps on generated tones (raw audio in)."""
    root = tmp_path_factory.mktemp("tones")
    make_tone_folder(root, per_class=6, freqs=(400.0, 1600.0), sample_rate=8000, max_s=0.6)
    run = tmp_path_factory.mktemp("run")
    train(compose_config("model=cldnn_streaming", f"data.root={root}", *TINY_AUDIO), run)
    return root, run / "checkpoints" / "best.pt"


def test_checkpoint_takes_raw_audio(trained, tmp_path):
    root, ckpt = trained
    metrics = evaluate(ckpt, ["data.batch_size=1"], tmp_path)
    assert 0 <= metrics["test/acc"] <= 1 and (tmp_path / "metrics.json").is_file()


@pytest.mark.parametrize("chunk_ms", [10, 70])
def test_stream_file_equals_offline(trained, chunk_ms):
    root, ckpt = trained
    model, names, per_frame = load_streaming_model(ckpt)
    assert names == ["tone0", "tone1"]
    lines = []
    result = stream_file(model, root / "tone1" / "000.wav", chunk_ms=chunk_ms, names=names, out=lines.append)
    import soundfile
    wave, _ = soundfile.read(root / "tone1" / "000.wav", dtype="float32")
    with torch.no_grad():
        offline, _ = model.frame_outputs(torch.from_numpy(wave)[None])
    torch.testing.assert_close(result["logits"], offline, rtol=1e-5, atol=1e-5)
    assert "prediction=tone" in lines[-2] and lines[-1].startswith("real-time factor")
    assert result["rtf"] > 0


def test_cli_prints_chunks_and_rtf(trained, capsys):
    root, ckpt = trained
    assert main([f"ckpt_path={ckpt}", f"wav={root / 'tone0' / '000.wav'}", "chunk_ms=100"]) == 0
    out = capsys.readouterr().out
    assert out.count("prediction=") >= 3 and "real-time factor" in out
    assert main(["wav=x.wav"]) == 2


def test_cli_refuses_a_model_without_front_end(tmp_path, capsys):
    cfg = compose_config("model=cldnn", "trainer.max_steps=1", "trainer.device=cpu", "logger=none",
                         "model.conv_channels=[2,2]", "model.hidden_size=4", "model.dnn_hidden=[4]")
    train(cfg, tmp_path)
    assert main([f"ckpt_path={tmp_path / 'checkpoints' / 'last.pt'}", "wav=x.wav"]) == 2
    assert "takes feature frames, not audio" in capsys.readouterr().err


@pytest.mark.parametrize("arg,message", [
    ("chunk_ms=0", "chunk_ms must be > 0, got '0'"), ("chunk_ms=-20", "chunk_ms must be > 0, got '-20'"),
    ("chunk_ms=abc", "chunk_ms must be a number, got 'abc'"), ("chunk_ms=inf", "chunk_ms must be"),
    ("chunkms=10", "chunkms is not an argument of python -m cnnlstm.stream (it takes: ckpt_path, wav, chunk_ms"),
    ("threads=0", "threads must be >= 1, got '0'"), ("threads=1.5", "threads must be an integer, got '1.5'"),
    ("device=gpu0", "device must be auto, cpu or cuda[:N], got 'gpu0'"), ("verbose", "'verbose' is not key=value"),
])
def test_cli_bad_arguments_give_one_line_naming_the_key(arg, message, capsys):
    assert main(["ckpt_path=missing.pt", "wav=missing.wav", arg]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_stream_file_refuses_chunks_without_samples(trained):
    from cnnlstm.arguments import ValidationError
    from cnnlstm.errors import ConfigError

    root, ckpt = trained
    model, _, _ = load_streaming_model(ckpt)
    lines = []
    for chunk_ms in (0, -5, 0.01, True):  # 0.01 ms is less than one sample at 8 kHz
        with pytest.raises((ConfigError, ValidationError), match="chunk_ms"):
            stream_file(model, root / "tone1" / "000.wav", chunk_ms=chunk_ms, out=lines.append)
    assert lines == []


def test_a_timit_frame_model_streams_per_frame_phone_posteriors_equal_to_offline(tmp_path):
    """A causal CLDNN trained on a TIMIT-layout miniature (frame phone targets) streams chunk by
    chunk: each line lists the phones of the frames the chunk completed, and the concatenated
    per-frame logits equal the offline ones."""
    from speech_miniatures import make_timit

    root = make_timit(tmp_path / "timit")
    cfg = compose_config("model=cldnn_streaming", "data=timit", f"data.root={root}", "data.num_workers=0",
                         "task=frame_labelling", "task.update_per_chunk=true", "model.conv_channels=[4,4]",
                         "model.hidden_size=16", "model.num_layers=1", "model.reduce_dim=8", "model.dnn_hidden=[16]",
                         "data.batch_size=4", "trainer.max_epochs=1", "trainer.device=cpu", "logger=none")
    train(cfg, tmp_path / "run")
    model, names, per_frame = load_streaming_model(tmp_path / "run" / "checkpoints" / "best.pt")
    assert per_frame and names is not None and len(names) == model.num_outputs == 61 and "h#" in names
    wav = next(root.rglob("TEST/*/*/*.WAV"))
    lines = []
    result = stream_file(model, wav, chunk_ms=50, names=names, out=lines.append, per_frame=True)
    import soundfile

    audio = torch.from_numpy(soundfile.read(str(wav), dtype="float32")[0])[None]
    offline, _ = model.frame_outputs(audio)
    torch.testing.assert_close(result["logits"], offline, atol=1e-5, rtol=1e-4)
    framed = [line for line in lines if " frames " in line and ":" in line.split(": ", 1)[-1]]
    assert framed and all(tok.split(":")[0] in names for tok in framed[-1].split(": ", 1)[1].split())
    assert lines[-1].startswith("real-time factor")


def test_a_speech_commands_model_streams_its_12_classes_equal_to_offline(tmp_path):
    """A streamable CLDNN trained on a Speech Commands-layout miniature (12-class task) streams a
    1 s clip chunk by chunk with the data's own class names, and equals the offline outputs."""
    from speech_miniatures import make_speech_commands

    from cnnlstm.data.speech_commands import SpeechCommands

    root = make_speech_commands(tmp_path / "sc", per_word=6)
    words = ["yes", "no", "up"]
    train(compose_config("model=cldnn_streaming", "data=speech_commands", f"data.root={root}",
                         f"data.words=[{','.join(words)}]", "data.num_workers=0", *TINY_AUDIO[2:],
                         "model.frontend.n_mels=40", "trainer.max_epochs=1"), tmp_path / "run")
    model, names, per_frame = load_streaming_model(tmp_path / "run" / "checkpoints" / "best.pt")
    assert not per_frame and names == SpeechCommands(str(root), words=words, num_workers=0).classes
    clip = sorted((root / "no").glob("*.wav"))[0]
    lines = []
    result = stream_file(model, clip, chunk_ms=100, names=names, out=lines.append)
    import soundfile
    wave, _ = soundfile.read(clip, dtype="float32")
    with torch.no_grad():
        offline, _ = model.frame_outputs(torch.from_numpy(wave)[None])
    torch.testing.assert_close(result["logits"], offline, rtol=1e-5, atol=1e-5)
    assert len([line for line in lines if "prediction=" in line]) >= 10  # a line per 100 ms chunk of 1 s
    assert result["prediction"] in names and lines[-1].startswith("real-time factor")


def test_a_wav_shorter_than_one_window_is_one_line_naming_the_file(trained, tmp_path, capsys):
    """Issue 26 A: a clip shorter than one analysis window gave an UnboundLocalError."""
    import soundfile

    root, ckpt = trained
    short = tmp_path / "short.wav"
    soundfile.write(short, torch.zeros(40).numpy(), 8000, subtype="PCM_16")  # 5 ms < a 25 ms window
    assert main([f"ckpt_path={ckpt}", f"wav={short}"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: wav={short}: 40 samples") and captured.err.count("\n") == 1
    assert "give no frame" in captured.err and "analysis window of 200 samples" in captured.err
    assert captured.out == ""  # refused before any chunk is streamed


def test_a_model_that_emits_no_frame_for_a_file_is_one_line_not_a_traceback(trained, monkeypatch):
    """The guard after streaming: a model that completes no frame (e.g. one that delays its
    outputs past the end of a short file) is a DataError, never an unbound prediction."""
    from cnnlstm.errors import DataError

    root, ckpt = trained
    model, names, _ = load_streaming_model(ckpt)
    real = model.stream
    monkeypatch.setattr(model, "stream", lambda chunk, state: (real(chunk, state)[0][:, :0], state))
    with pytest.raises(DataError, match="give no frame"):
        stream_file(model, root / "tone1" / "000.wav", chunk_ms=100, names=names, out=lambda line: None)
