"""Log-mel filterbank features from raw audio in torch (a short-time FFT), batched and streamable."""

import math
from typing import Literal

import torch
from torch import nn

from cnnlstm.arguments import PositiveFloat, PositiveInt, checked
from cnnlstm.errors import ConfigError
from cnnlstm.nn.masking import length_mask


def hz_to_mel(f):
    return 2595.0 * math.log10(1.0 + f / 700.0)


def mel_filterbank(n_freqs: int, sample_rate: int, n_mels: int, fmin: float, fmax: float) -> torch.Tensor:
    """Triangular HTK-mel filters ``(n_freqs, n_mels)`` over the bins of a one-sided spectrum."""
    freqs = torch.linspace(0, sample_rate / 2, n_freqs, dtype=torch.float64)  # (n_freqs,)
    mels = torch.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2, dtype=torch.float64)
    hz = 700.0 * (10 ** (mels / 2595.0) - 1.0)  # (n_mels + 2,) filter edges
    lower, centre, upper = hz[:-2], hz[1:-1], hz[2:]
    up = (freqs[:, None] - lower) / (centre - lower)  # (n_freqs, n_mels)
    down = (upper - freqs[:, None]) / (upper - centre)
    return torch.clamp(torch.minimum(up, down), min=0).float()


def deltas(x: torch.Tensor, lengths: torch.Tensor | None, n: int = 2) -> torch.Tensor:
    """Regression deltas over ``+-n`` frames of ``x: (B, T, D)``, edges repeating each utterance's
    first and last valid frame (so padding does not change them)."""
    t = x.shape[1]
    last = (lengths.long() - 1).clamp(min=0) if lengths is not None else torch.full((x.shape[0],), t - 1)
    steps = torch.arange(t, device=x.device)
    num = torch.zeros_like(x)
    for k in range(1, n + 1):
        ahead = torch.minimum(steps[None] + k, last.to(x.device)[:, None])  # (B, T)
        behind = (steps - k).clamp(min=0).expand_as(ahead)
        gather = lambda idx: x.gather(1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))  # noqa: E731
        num = num + k * (gather(ahead) - gather(behind))
    return num / (2 * sum(k * k for k in range(1, n + 1)))


class LogMel(nn.Module):
    """Waveform ``(B, S)`` -> log-mel frames ``(B, T, n_mels * (1 + deltas))``, with lengths.

    Frames are ``win_ms`` long every ``hop_ms`` (no centring: frame ``t`` covers samples
    ``t * hop .. t * hop + win``, so a frame never needs future audio), Hann window, power
    spectrum through ``n_mels`` triangular mel filters in ``[fmin, fmax]``, then ``log(. + 1e-6)``.
    Sainath et al. (2015): 25 ms window, 10 ms hop, 40 bins.

    Normalisation (``normalize``):
        ``"global"``: per-bin mean and variance accumulated over every frame seen in training mode
        (so over the training split only: validation and test run in eval mode) and frozen in eval
        mode; the statistics are buffers, saved with the checkpoint.
        ``"utterance"``: each utterance's own mean and variance over its valid frames (offline only).
        ``"none"``.

    Example:
        >>> frontend = LogMel(sample_rate=16000)
        >>> feats, frames = frontend(torch.zeros(2, 16000), torch.tensor([16000, 8000]))
        >>> feats.shape, frames.tolist()
        (torch.Size([2, 98, 40]), [98, 48])
    """

    @checked
    def __init__(
        self,
        sample_rate: PositiveInt = 16000,
        win_ms: PositiveFloat = 25.0,
        hop_ms: PositiveFloat = 10.0,
        n_fft: PositiveInt | None = None,
        n_mels: PositiveInt = 40,
        fmin: float = 0.0,
        fmax: PositiveFloat | None = None,
        deltas: Literal[0, 1, 2] = 0,
        normalize: Literal["none", "utterance", "global"] = "global",
        eps: PositiveFloat = 1e-6,
    ) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.win = round(win_ms * sample_rate / 1000)
        self.hop = round(hop_ms * sample_rate / 1000)
        for name, ms, samples in (("win_ms", win_ms, self.win), ("hop_ms", hop_ms, self.hop)):
            if samples < 1:  # declared > 0, but it must also be one sample at this rate
                raise ConfigError(f"{name} must be at least one sample ({1000 / sample_rate:g} ms at "
                                  f"{sample_rate} Hz), got {ms:g}")
        self.n_fft = n_fft if n_fft is not None else 1 << (self.win - 1).bit_length()
        if self.n_fft < self.win:
            raise ConfigError(f"n_fft must be >= the window of {self.win} samples, got {self.n_fft}")
        self.n_mels = n_mels
        fmax = sample_rate / 2 if fmax is None else fmax
        if not 0 <= fmin < fmax <= sample_rate / 2:
            raise ConfigError(f"fmin and fmax must satisfy 0 <= fmin < fmax <= {sample_rate / 2}, got {fmin}, {fmax}")
        self.deltas, self.normalize, self.eps = deltas, normalize, eps
        self.out_features = self.n_mels * (1 + self.deltas)
        self.register_buffer("hann", torch.hann_window(self.win), persistent=False)
        self.register_buffer("filters", mel_filterbank(self.n_fft // 2 + 1, sample_rate, n_mels, fmin, fmax),
                             persistent=False)
        # saved with the weights, so a checkpoint says which audio it takes (cnnlstm.stream reads it)
        self.register_buffer("rate", torch.tensor(self.sample_rate))
        # running sums for "global" normalisation (float64 so long runs do not lose precision)
        self.register_buffer("stat_count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("stat_sum", torch.zeros(self.out_features, dtype=torch.float64))
        self.register_buffer("stat_sumsq", torch.zeros(self.out_features, dtype=torch.float64))

    @property
    def streamable(self) -> bool:
        return self.deltas == 0 and self.normalize != "utterance"

    def num_frames(self, samples: torch.Tensor) -> torch.Tensor:
        """Frames produced from ``samples`` audio samples (0 when shorter than one window)."""
        return torch.where(samples >= self.win, (samples - self.win) // self.hop + 1, torch.zeros_like(samples))

    def _log_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """All complete frames of ``wave: (B, S)`` with ``S >= win`` -> ``(B, T, n_mels)``."""
        # torch.stft(center=False) frames by n_fft, not by the window; framing by the window
        # itself keeps every frame's span to win samples, so frame t needs no later audio
        frames = wave.float().unfold(1, self.win, self.hop) * self.hann  # (B, T, win)
        spec = torch.fft.rfft(frames, n=self.n_fft)  # (B, T, n_fft/2+1)
        power = spec.real.square() + spec.imag.square()
        return torch.log(power @ self.filters + self.eps)  # (B, T, n_mels)

    def forward(self, wave: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``wave: (B, S)``, ``lengths``: samples per utterance ``(B,)`` -> features ``(B, T, D)``,
        frames per utterance ``(B,)``. Frames past an utterance's end are zeros."""
        if wave.dim() != 2:
            raise ValueError(f"LogMel expects a waveform batch (B, S), got shape {tuple(wave.shape)}")
        samples = wave.shape[1]
        if lengths is None:
            lengths = torch.full((wave.shape[0],), samples, device=wave.device)
        frames = self.num_frames(lengths.to(wave.device).long())
        if samples < self.win:
            wave = nn.functional.pad(wave, (0, self.win - samples))
        feats = self._log_mel(wave)  # (B, T, n_mels)
        if self.deltas:
            d1 = deltas(feats, frames)
            feats = torch.cat([feats, d1] + ([deltas(d1, frames)] if self.deltas == 2 else []), dim=-1)
        mask = length_mask(frames, feats.shape[1]).unsqueeze(-1)  # (B, T, 1)
        feats = self._normalize(feats, mask, frames)
        return feats * mask.to(feats.dtype), frames

    def _normalize(self, feats: torch.Tensor, mask: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        if self.normalize == "none":
            return feats
        if self.normalize == "utterance":
            m = mask.to(feats.dtype)
            n = frames.to(feats.dtype).clamp(min=1).view(-1, 1, 1)
            mean = (feats * m).sum(1, keepdim=True) / n
            var = ((feats - mean).square() * m).sum(1, keepdim=True) / n
            return (feats - mean) / (var + 1e-5).sqrt()
        if self.training:
            with torch.no_grad():
                valid = feats.detach().double()[mask.squeeze(-1)]  # (N_valid, D)
                self.stat_count += valid.shape[0]
                self.stat_sum += valid.sum(0)
                self.stat_sumsq += valid.square().sum(0)
        return self.apply_global(feats)

    def apply_global(self, feats: torch.Tensor) -> torch.Tensor:
        """``feats`` standardised with the accumulated training statistics (identity before any)."""
        if self.stat_count <= 1:
            return feats
        mean = self.stat_sum / self.stat_count
        var = (self.stat_sumsq / self.stat_count - mean.square()).clamp(min=0)
        return ((feats - mean.to(feats.dtype)) / (var + 1e-5).sqrt().to(feats.dtype))

    def stream(self, chunk: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Chunked forward: ``chunk: (B, n)`` samples, ``state``: samples not yet framed.

        Returns the frames completed by this chunk ``(B, k, D)`` and the new state; the frames of
        consecutive chunks equal :meth:`forward` on the whole waveform.
        """
        if not self.streamable:
            raise ValueError("LogMel.stream needs deltas=0 and normalize 'global' or 'none' "
                             f"(got deltas={self.deltas}, normalize={self.normalize!r})")
        buf = chunk if state is None else torch.cat([state, chunk], dim=1)  # (B, m + n)
        k = int(self.num_frames(torch.tensor(buf.shape[1])))
        if k == 0:
            return buf.new_zeros(buf.shape[0], 0, self.out_features), buf
        feats = self._log_mel(buf[:, :(k - 1) * self.hop + self.win])  # (B, k, n_mels)
        if self.normalize == "global":
            feats = self.apply_global(feats)
        return feats, buf[:, k * self.hop:]

    def extra_repr(self) -> str:
        return (f"sample_rate={self.sample_rate}, win={self.win}, hop={self.hop}, n_fft={self.n_fft}, "
                f"n_mels={self.n_mels}, deltas={self.deltas}, normalize={self.normalize!r}")
