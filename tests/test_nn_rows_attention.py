import pytest
import torch

from cnnlstm.nn import AdditiveAttention, DirectAttention, image_to_rows, rows_to_image


@pytest.mark.parametrize("shape", [(2, 1, 28, 28), (3, 3, 5, 7), (1, 2, 1, 9)])
def test_rows_round_trip_is_identity(shape):
    x = torch.rand(*shape)
    rows = image_to_rows(x)
    assert rows.shape == (shape[0], shape[2], shape[1] * shape[3])
    torch.testing.assert_close(rows_to_image(rows, shape[1]), x, rtol=0, atol=0)


def test_row_t_holds_image_row_t_of_every_channel():
    x = torch.arange(2 * 3 * 4).float().view(1, 2, 3, 4)
    rows = image_to_rows(x)
    torch.testing.assert_close(rows[0, 1], torch.cat([x[0, 0, 1], x[0, 1, 1]]))


def test_rows_to_image_rejects_bad_width():
    with pytest.raises(ValueError, match="cannot hold 3 channels"):
        rows_to_image(torch.zeros(1, 2, 7), 3)


def test_additive_attention_weights_sum_to_one_and_mix_keys():
    torch.manual_seed(0)
    att = AdditiveAttention(query_size=6, key_size=4, attention_size=8)
    queries, keys = torch.randn(3, 5, 6), torch.randn(3, 9, 4)
    out, weights = att(queries, keys)
    assert out.shape == (3, 5, 4) and weights.shape == (3, 5, 9)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 5))
    assert (weights >= 0).all() and weights.std() > 0  # not uniform
    torch.testing.assert_close(out, torch.einsum("btn,bnk->btk", weights, keys))


def test_direct_attention_concatenates_context_and_rows():
    c, r, p = torch.zeros(2, 3, 4), torch.ones(2, 3, 5), torch.full((2, 3, 5), 2.0)
    out = DirectAttention()(c, r, p)
    assert out.shape == (2, 3, 14)
    assert (out[..., 4:9] == 1).all() and (out[..., 9:] == 2).all()
