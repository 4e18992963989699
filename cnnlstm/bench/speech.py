"""Speech data from disk: files/s decoded and featurized by 0 and 2 workers, CLDNN training on 1-second
clips, and ``trainer.compile=true`` against eager on variable-length TIMIT-layout batches.

The corpora are generated into a temporary folder (:mod:`cnnlstm.bench.speech_corpora`). Training
runs go through :mod:`cnnlstm.bench.measure` in fresh processes, like the ``families`` section.
"""

import tempfile
import time

import torch

from cnnlstm.bench.families import run_isolated
from cnnlstm.bench.speech_corpora import write_speech_commands, write_timit
from cnnlstm.data.speech_commands import SpeechCommands
from cnnlstm.nn.log_mel import LogMel

CLIPS = ["model=cldnn", "data=speech_commands", "data.root={clips}", "data.task=all35"]
TIMIT = ["model=cldnn", "data=timit", "data.root={timit}", "data.batch_size=16"]
TRAINING = [  # (family, variant, overrides, spec); TIMIT-layout batches of 16 utterances (40 s of audio)
    ("cldnn", "1 s clips, eager", CLIPS, {}),
    ("cldnn", "1 s clips, compile", CLIPS, {"compile": "parts"}),
    ("cldnn", "timit 1-4 s, eager", TIMIT, {}),
    ("cldnn", "timit 1-4 s, compile", TIMIT, {"compile": "parts"}),
    ("cldnn", "timit 1-4 s, compile, 4 pad sizes", TIMIT + ["data.pad_buckets=4"], {"compile": "parts"}),
]


def featurize_rate(root: str, workers: int) -> float:
    """Files per second read, decoded, batched and turned into log-mel features (no augmentation)."""
    data = SpeechCommands(root, task="all35", noise_prob=0.0, time_shift_ms=0.0, num_workers=workers, batch_size=32)
    data.setup("cpu")
    frontend = LogMel(sample_rate=16000, normalize="none")
    start, files = time.perf_counter(), 0
    with torch.no_grad():
        for batch in data.batches("train"):
            frontend(batch["x"], batch["lengths"])
            files += len(batch["lengths"])
    return files / (time.perf_counter() - start)


def run(device: torch.device, quick: bool = False) -> list[dict]:
    with tempfile.TemporaryDirectory() as clips, tempfile.TemporaryDirectory() as timit:
        write_speech_commands(clips, 200 if quick else 1500)
        write_timit(timit, 8 if quick else 24)
        records = [{"family": "speech_data", "variant": f"decode+log-mel, {w} workers", "device": "cpu",
                    "files_per_s": featurize_rate(clips, w)} for w in (0, 2)]
        for family, variant, overrides, spec in TRAINING:
            full = {"overrides": [o.format(clips=clips, timit=timit) for o in overrides], "device": device.type,
                    "warmup": 2 if quick else 6, "steps": 4 if quick else 8, "infer": False} | spec
            records.append({"family": family, "variant": variant, "device": device.type} | run_isolated(full))
        return records
