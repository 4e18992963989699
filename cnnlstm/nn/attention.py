"""Attention for the denoiser's row decoder: direct (the paper's) and additive (Bahdanau-style)."""

import torch
from torch import nn

from cnnlstm.arguments import PositiveInt, checked


class DirectAttention(nn.Module):
    """The paper's "direct attention": the decoder reads the raw corrupted row at every step.

    There are no weights: the input of decoder step ``t`` is the concatenation of the context
    vector, the corrupted row ``t`` and the previous restored row, so whatever the encoder's
    fixed-size vector lost, the decoder can still take from the image itself.
    """

    def forward(self, context: torch.Tensor, corrupted_rows: torch.Tensor,
                previous_rows: torch.Tensor) -> torch.Tensor:
        """``context: (B, T, E)``, ``corrupted_rows, previous_rows: (B, T, R) -> (B, T, E + 2R)``."""
        return torch.cat([context, corrupted_rows, previous_rows], dim=-1)


class AdditiveAttention(nn.Module):
    """Bahdanau-style additive attention over a set of keys (the encoder's spatial features).

    ``score(q, k_j) = v^T tanh(W_q q + W_k k_j)``; the weights are a softmax of the scores over
    the ``N`` keys (they sum to 1) and the result is the weighted sum of the keys.

    Args:
        query_size: width of a query (the decoder's hidden state).
        key_size: width of a key (channels of the encoder's feature map).
        attention_size: width of the hidden scoring layer.

    Example:
        >>> att = AdditiveAttention(8, 4, 16)
        >>> out, w = att(torch.zeros(2, 5, 8), torch.zeros(2, 9, 4))
        >>> out.shape, w.shape
        (torch.Size([2, 5, 4]), torch.Size([2, 5, 9]))
    """

    @checked
    def __init__(self, query_size: PositiveInt, key_size: PositiveInt, attention_size: PositiveInt = 64) -> None:
        super().__init__()
        self.query = nn.Linear(query_size, attention_size, bias=False)
        self.key = nn.Linear(key_size, attention_size)
        self.score = nn.Linear(attention_size, 1, bias=False)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``queries: (B, T, Q)``, ``keys: (B, N, K)`` -> context ``(B, T, K)``, weights ``(B, T, N)``."""
        hidden = torch.tanh(self.query(queries)[:, :, None, :] + self.key(keys)[:, None, :, :])  # (B, T, N, A)
        weights = torch.softmax(self.score(hidden).squeeze(-1), dim=-1)  # (B, T, N)
        return weights @ keys, weights  # (B, T, K), (B, T, N)
