from conftest import compose_config

from cnnlstm.visualize import dot_program, draw


def test_diagram_files(tmp_path):
    written = draw(compose_config("data.size=16", "data.seq_len=4"), tmp_path, depth=2)
    dot = (tmp_path / "CNNLSTM.dot").read_text()
    assert dot.startswith("strict digraph") or dot.startswith("digraph")
    assert "LSTM" in dot and "TimeDistributed" in dot
    if dot_program():
        assert (tmp_path / "CNNLSTM.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
        assert (tmp_path / "CNNLSTM.png").read_bytes()[:4] == b"\x89PNG"
        assert len(written) == 3
