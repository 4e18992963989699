"""Streaming inference from a WAV file: ``python -m cnnlstm.stream ckpt_path=PATH wav=FILE [chunk_ms=100]``.

Loads a checkpoint of a streamable CLDNN with a log-mel front end (e.g. ``model=cldnn_paper`` or
``model=cldnn_streaming`` trained on ``data=wav_folder``), feeds the file chunk by chunk through
:meth:`cnnlstm.models.CLDNN.stream`, prints the prediction after every chunk (from the outputs
of all frames so far, pooled as the model pools) and the real-time factor (processing time /
audio duration). Options: ``chunk_ms`` (default 100), ``device`` (default cpu),
``threads`` (torch threads, default 1).
"""

import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from cnnlstm.arguments import PositiveFloat, PositiveInt, checked
from cnnlstm.cli_args import options, run_command
from cnnlstm.data.audio_files import read_wav
from cnnlstm.data.phones import PHONE_SETS
from cnnlstm.data.speech_commands import SILENCE, UNKNOWN
from cnnlstm.data.wav_folder import class_names
from cnnlstm.engine.builder import load_trained_model
from cnnlstm.errors import ConfigError, DataError

USAGE = "usage: python -m cnnlstm.stream ckpt_path=PATH wav=FILE [chunk_ms=100] [device=cpu] [threads=1]"


def load_streaming_model(ckpt_path: str | Path, device: str = "cpu"):
    """The model of a checkpoint, in eval mode; its ``num_outputs`` and ``sample_rate`` are read from
    the weights, so the training data need not be present. Returns ``(model, class names or None,
    whether it labels frames)``: a frame model (``task=frame_labelling``, e.g. trained on TIMIT)
    gets per-frame posteriors printed, an utterance classifier its running prediction."""
    model, cfg = load_trained_model(ckpt_path, _args_from_weights(ckpt_path), device)
    per_frame = "FrameLabelling" in str(cfg.get("task", {}).get("_target_", ""))
    return model, label_names(cfg.get("data", {}), model.num_outputs), per_frame


def label_names(data: dict, n: int) -> list[str] | None:
    """The class names of the data a model was trained on, from its config (None if unknown or
    they do not match the model's ``n`` outputs): TIMIT's phone set, Speech Commands' 12 classes,
    or the class folders of a root that is still there."""
    target, root = str(data.get("_target_", "")), data.get("root")
    if target.endswith(".TIMIT"):
        names = PHONE_SETS[int(data.get("train_phones", 61))]
    elif target.endswith(".SpeechCommands") and data.get("task", "12class") == "12class":
        names = [SILENCE, UNKNOWN, *data.get("words", ())]
    else:
        names = class_names(root) if root and Path(root).is_dir() else None
    return list(names) if names and len(names) == n else None


def _args_from_weights(ckpt_path):
    def model_args(cfg, weights: dict) -> dict:
        if "frontend.rate" not in weights:
            raise ConfigError(f"checkpoint {ckpt_path}: its model takes feature frames, not audio "
                              "(train it with audio data, e.g. data=wav_folder)")
        return {"num_outputs": int(weights["output.bias"].shape[0]), "sample_rate": int(weights["frontend.rate"])}
    return model_args


@torch.no_grad()
@checked
def stream_file(model: nn.Module, wav: str | Path, chunk_ms: PositiveFloat = 100.0, device: str = "cpu",
                names: list[str] | None = None, out: Callable = print, per_frame: bool = False) -> dict:
    """Stream ``wav`` through ``model`` in ``chunk_ms`` chunks, printing a line per chunk (with
    ``per_frame``: the most probable class and its posterior for each frame the chunk completed);
    returns the final prediction, the per-frame logits and the real-time factor."""
    rate = model.frontend.sample_rate
    chunk = round(chunk_ms * rate / 1000)
    if chunk < 1:
        raise ConfigError(f"chunk_ms={chunk_ms:g} is shorter than one sample at {rate} Hz")
    audio = torch.from_numpy(read_wav(Path(wav), rate, resample=True, min_samples=1))[None].to(device)  # (1, S)
    check_one_frame(model, wav, audio.shape[1])
    state, logits, busy = None, [], 0.0
    for start in range(0, audio.shape[1], chunk):
        tick = time.perf_counter()
        frames, state = model.stream(audio[:, start:start + chunk], state)  # (1, k, K)
        logits.append(frames)
        seen = torch.cat(logits, dim=1)
        end_s = min(start + chunk, audio.shape[1]) / rate
        if seen.shape[1] == 0:
            busy += time.perf_counter() - tick
            out(f"[{start / rate:6.2f}-{end_s:6.2f}s] frames=0 (waiting for a full window)")
            continue
        pooled = seen[:, -1] if model.pool == "last" else seen.mean(1)  # (1, K)
        busy += time.perf_counter() - tick
        prob, label = pooled.softmax(-1).max(-1)
        name = names[int(label)] if names else str(int(label))
        if per_frame:
            probs, labels = frames[0].softmax(-1).max(-1)  # (k,): this chunk's new frames
            shown = " ".join(f"{names[int(c)] if names else int(c)}:{float(q):.2f}" for q, c in zip(probs, labels))
            out(f"[{start / rate:6.2f}-{end_s:6.2f}s] frames {seen.shape[1] - frames.shape[1]}-{seen.shape[1] - 1}: "
                f"{shown}")
            continue
        out(f"[{start / rate:6.2f}-{end_s:6.2f}s] frames={seen.shape[1]:4d} prediction={name} p={float(prob):.3f}")
    if sum(frames.shape[1] for frames in logits) == 0:  # e.g. a model that delays its outputs
        raise no_frames(wav, audio.shape[1], rate, model.frontend.win)
    duration = audio.shape[1] / rate
    rtf = busy / duration
    out(f"real-time factor {rtf:.4f} ({busy * 1000:.1f} ms for {duration:.2f} s of audio, chunks of {chunk_ms:g} ms)")
    return {"logits": torch.cat(logits, dim=1), "rtf": rtf, "prediction": name}


def no_frames(wav: str | Path, samples: int, rate: int, window: int) -> DataError:
    """The one line for a file that gives the model no frame to predict from (instead of a
    prediction made of nothing)."""
    return DataError(f"wav={wav}: {samples} samples ({samples / rate * 1000:.1f} ms at {rate} Hz) give no "
                     f"frame: the model needs at least one analysis window of {window} samples "
                     f"({window / rate * 1000:.1f} ms)")


def check_one_frame(model: nn.Module, wav: str | Path, samples: int) -> None:
    """DataError before anything is streamed when ``wav`` is shorter than one analysis window."""
    frontend = model.frontend
    if int(frontend.num_frames(torch.tensor(samples))) == 0:
        raise no_frames(wav, samples, frontend.sample_rate, frontend.win)


@options("python -m cnnlstm.stream")
def stream_options(ckpt_path: str, wav: str, chunk_ms: PositiveFloat = 100.0, device: str = "cpu",
                   threads: PositiveInt = 1) -> dict:
    """The command line of ``python -m cnnlstm.stream``."""
    return {"ckpt_path": ckpt_path, "wav": wav, "chunk_ms": chunk_ms, "device": device, "threads": threads}


def main(argv: list[str]) -> int:
    def action(args: dict) -> None:
        torch.set_num_threads(args["threads"])
        model, names, per_frame = load_streaming_model(args["ckpt_path"], args["device"])
        stream_file(model, args["wav"], args["chunk_ms"], args["device"], names, per_frame=per_frame)

    return run_command(argv, stream_options, USAGE, action)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
