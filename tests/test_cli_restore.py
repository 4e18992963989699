"""The restore command line refuses bad arguments and never overwrites the user's images."""

import pytest
import torch
from conftest import compose_config

from cnnlstm.restore import main

TINY_DENOISER = [
    "model=denoiser", "model.conv_channels=[4,4]", "model.context_size=8", "model.hidden_size=8",
    "data.n_train=32", "data.n_val=8", "data.n_test=8", "data.batch_size=16", "trainer.max_steps=1",
    "trainer.device=cpu", "trainer.progress=log", "logger=none",
]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    from cnnlstm.engine.run import train

    run = tmp_path_factory.mktemp("run")
    train(compose_config(*TINY_DENOISER), run)
    return run / "checkpoints" / "last.pt"


@pytest.fixture
def images(tmp_path):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray((torch.rand(28, 28) * 255).byte().numpy()).save(folder / name)
    return folder


def snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def run(capsys, *args) -> tuple[int, str]:
    rc = main(list(args))
    err = capsys.readouterr().err
    assert rc == 0 or (err.startswith("error: ") and err.count("\n") == 1), err
    return rc, err


def test_refuses_to_overwrite_the_input_images(ckpt, images, capsys):
    before = snapshot(images)
    rc, err = run(capsys, f"ckpt_path={ckpt}", f"input={images}", f"output={images}")
    assert rc == 2 and "would overwrite the input image" in err
    rc, err = run(capsys, f"ckpt_path={ckpt}", f"input={images / 'a.png'}", f"output={images}", "overwrite=true")
    assert rc == 2 and "would overwrite the input image" in err
    assert snapshot(images) == before


def test_output_that_is_a_file_is_one_line(ckpt, images, tmp_path, capsys):
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    rc, err = run(capsys, f"ckpt_path={ckpt}", f"input={images}", f"output={target}")
    assert rc == 2 and f"output={target} is a file" in err and target.read_text() == "keep me"


def test_existing_outputs_need_overwrite_and_names_must_not_clash(ckpt, images, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(capsys, f"ckpt_path={ckpt}", f"input={images}", f"output={out}")[0] == 0
    rc, err = run(capsys, f"ckpt_path={ckpt}", f"input={images}", f"output={out}")
    assert rc == 2 and "already holds a.png and 1 more" in err and "overwrite=true" in err
    assert run(capsys, f"ckpt_path={ckpt}", f"input={images}", f"output={out}", "overwrite=TRUE")[0] == 0
    (images / "a.jpg").write_bytes((images / "a.png").read_bytes())
    rc, err = run(capsys, f"ckpt_path={ckpt}", f"input={images}", f"output={tmp_path / 'new'}")
    assert rc == 2 and "would both be written to" in err and not (tmp_path / "new").exists()


@pytest.mark.parametrize("arg,message", [
    ("corrupt=maybe", "corrupt must be true or false, got 'maybe'"),
    ("overwrite=1", "overwrite must be true or false"),
    ("device=gpu0", "device must be auto, cpu or cuda[:N], got 'gpu0'"),
    ("ouput=x", "ouput is not an argument of python -m cnnlstm.restore (it takes: ckpt_path, input, output"),
    ("corrupt", "'corrupt' is not key=value"),
])
def test_bad_arguments_name_the_key(arg, message, images, tmp_path, capsys):
    rc, err = run(capsys, "ckpt_path=missing.pt", f"input={images}", f"output={tmp_path / 'out'}", arg)
    assert rc == 2 and message in err and "usage" in err
    assert not (tmp_path / "out").exists()


def test_missing_key_is_named(capsys):
    rc, err = run(capsys, "ckpt_path=missing.pt", "input=x")
    assert rc == 2 and "output must be set" in err


def test_a_symlink_at_an_output_path_is_replaced_never_written_through(ckpt, images, tmp_path, capsys):
    """Issue 26 E: ``overwrite=true`` wrote the image through a symlink at the output path."""
    victim, out = tmp_path / "victim.txt", tmp_path / "out"
    victim.write_text("keep me")
    out.mkdir()
    (out / "a.png").symlink_to(victim)
    (out / "b.png").symlink_to(tmp_path / "created_outside.png")  # dangling: it is something there too
    rc, err = run(capsys, f"ckpt_path={ckpt}", f"input={images}", f"output={out}")
    assert rc == 2 and "already holds a.png and 1 more" in err
    assert run(capsys, f"ckpt_path={ckpt}", f"input={images}", f"output={out}", "overwrite=true")[0] == 0
    assert victim.read_text() == "keep me" and not (tmp_path / "created_outside.png").exists()
    for name in ("a.png", "b.png"):
        assert not (out / name).is_symlink() and (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_symlink_to_an_input_image_is_replaced_and_the_input_kept(ckpt, images, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").symlink_to(images / "a.png")
    before = snapshot(images)
    assert run(capsys, f"ckpt_path={ckpt}", f"input={images}", f"output={out}", "overwrite=true")[0] == 0
    assert snapshot(images) == before and not (out / "a.png").is_symlink()


def test_a_read_only_output_folder_is_one_line_and_keeps_the_old_image(ckpt, images, tmp_path, capsys,
                                                                        monkeypatch):
    import errno

    import cnnlstm.files as atomic

    out = tmp_path / "out"
    assert run(capsys, f"ckpt_path={ckpt}", f"input={images}", f"output={out}")[0] == 0
    before = snapshot(out)

    def read_only(src, dst):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic.os, "replace", read_only)
    rc, err = run(capsys, f"ckpt_path={ckpt}", f"input={images}", f"output={out}", "overwrite=true")
    assert rc == 2 and f"cannot write {out / 'a.png'}: Read-only file system" in err
    assert snapshot(out) == before  # no temporary file left, the old images whole
