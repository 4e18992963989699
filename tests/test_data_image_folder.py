import pytest
import torch

from cnnlstm.data import ImageFolder
from cnnlstm.data.corruptions import BlankHalf
from cnnlstm.errors import DataError


@pytest.fixture
def folder(tmp_path):
    from PIL import Image

    for i in range(10):
        sub = tmp_path / ("a" if i % 2 else "b")
        sub.mkdir(exist_ok=True)
        rgb = torch.randint(0, 256, (20 + i, 30, 3), dtype=torch.uint8).numpy()
        Image.fromarray(rgb).save(sub / f"img{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


@pytest.mark.parametrize("channels", [1, 3])
def test_resize_mode(folder, channels):
    data = ImageFolder(root=str(folder), size=[12, 16], channels=channels, corruption=[BlankHalf()],
                       val_fraction=0.2, test_fraction=0.2, batch_size=4)
    assert data.model_args == {"image_size": [12, 16], "in_channels": channels}
    data.setup()
    assert [data.split_size(s) for s in ("train", "val", "test")] == [6, 2, 2]
    batch = next(data.batches("train"))
    assert batch["x"].shape == batch["y"].shape == (4, channels, 12, 16)
    assert batch["mask"][:, :, 6:].all() and 0 <= batch["y"].min() and batch["y"].max() <= 1


def test_crop_mode_random_for_train_fixed_for_eval(folder):
    data = ImageFolder(root=str(folder), size=8, mode="crop", load_size=16, batch_size=4)
    data.setup()
    idx = torch.arange(3)
    list(data.batches("train", epoch=0))
    a = data.make_batch("train", idx)["y"]
    list(data.batches("train", epoch=1))
    b = data.make_batch("train", idx)["y"]
    assert a.shape == (3, 1, 8, 8) and not torch.equal(a, b)
    full = data.images["train"][idx]
    assert torch.equal(data.make_batch("train", idx)["y"], data.make_batch("train", idx)["y"])
    assert any(torch.equal(a[0], full[0, :, i:i + 8, j:j + 8]) for i in range(9) for j in range(9))
    t = data.make_batch("test", torch.arange(1))["y"]
    torch.testing.assert_close(t, data.images["test"][:1, :, 4:12, 4:12])


def test_missing_or_empty_root(tmp_path):
    with pytest.raises(DataError, match="is not a folder"):
        ImageFolder(root=str(tmp_path / "nope")).setup()
    with pytest.raises(DataError, match="holds 0 images"):
        ImageFolder(root=str(tmp_path)).setup()


def test_fractions_leaving_no_training_images(folder):
    pattern = r"data\.val_fraction=0\.95 \+ data\.test_fraction=0\.1 must be < 1"
    with pytest.raises(DataError, match=pattern):
        ImageFolder(root=str(folder), val_fraction=0.95, test_fraction=0.1)
    data = ImageFolder(root=str(folder), val_fraction=0.55, test_fraction=0.4)  # rounds to 6 + 4 of 10
    pattern = (r"data\.val_fraction=0\.55 and data\.test_fraction=0\.4 leave no training "
               r"images: 10 images would split into val 6, test 4, train 0")
    with pytest.raises(DataError, match=pattern):
        data.setup()


def test_split_errors_are_one_line_through_the_config(folder):
    from conftest import compose_config

    from cnnlstm.engine.builder import build

    cfg = compose_config("model=conv_autoencoder", "data=image_folder", f"data.root={folder}", "data.val_fraction=0.95")
    pattern = r"^data\.val_fraction=0\.95 \+ data\.test_fraction=0\.1 must be < 1[^\n]*$"
    with pytest.raises(DataError, match=pattern):
        build(cfg.data, "data")


def test_images_too_small_for_ssim_are_refused_before_training(folder, tmp_path):
    from conftest import compose_config

    from cnnlstm.engine.run import train
    from cnnlstm.errors import ConfigError

    cfg = compose_config("model=denoiser", "data=image_folder", f"data.root={folder}", "data.size=5", "logger=none")
    pattern = (r"^data\.size must be at least 6 pixels for the SSIM metric's 11-pixel "
               r"window, got \[5, 5\]$")
    with pytest.raises(ConfigError, match=pattern):
        train(cfg, tmp_path / "run")
    with pytest.raises(ConfigError, match=r"got \[16, 4\]$"):
        train(compose_config("model=conv_autoencoder", "data=image_folder", f"data.root={folder}", "data.size=[16,4]",
                             "logger=none"), tmp_path / "run")
    assert not (tmp_path / "run").exists()
    assert ImageFolder(root=str(folder), size=6).size == (6, 6)


def test_the_image_folder_and_restore_share_one_reader(tmp_path):
    from PIL import Image

    import cnnlstm.restore
    from cnnlstm.data.images import IMAGE_SUFFIXES, image_files, load_image

    assert cnnlstm.restore.load_image is load_image and cnnlstm.restore.IMAGE_SUFFIXES is IMAGE_SUFFIXES
    Image.new("RGB", (30, 20), (255, 0, 0)).save(tmp_path / "wide.png")
    (tmp_path / "notes.txt").write_text("not an image")
    assert image_files(tmp_path) == [tmp_path / "wide.png"]
    assert load_image(tmp_path / "wide.png", 3, (8, 12)).shape == (3, 8, 12)
    square = load_image(tmp_path / "wide.png", 1, square=10)  # shorter side to 10, centre square
    assert square.shape == (1, 10, 10) and 0 < square.min() <= square.max() <= 1
    (tmp_path / "bad.png").write_text("not a png")
    with pytest.raises(DataError, match="cannot read image .*bad.png"):
        load_image(tmp_path / "bad.png", 1, (4, 4))


def _refuse_big_resizes(monkeypatch, limit):
    """Make PIL's resize fail (before allocating) when asked for more than ``limit`` pixels."""
    from PIL import Image

    resize = Image.Image.resize

    def checked(self, size, *args, **kwargs):
        assert size[0] * size[1] <= limit, f"resize to {size} allocates {size[0] * size[1]} pixels"
        return resize(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", checked)


@pytest.mark.parametrize("mode", ["crop", "resize"])
def test_a_long_thin_image_allocates_no_more_than_it_decodes(folder, monkeypatch, mode):
    """A 1 x 2,000,000 PNG is 2 Mpixels (under data.max_pixels) in a few kB; crop mode used to
    resize its shorter side to load_size first: a 16 x 32,000,000 canvas (gigabytes)."""
    from PIL import Image

    Image.new("L", (1, 2_000_000), 200).save(folder / "a" / "thin.png")
    assert (folder / "a" / "thin.png").stat().st_size < 10_000
    _refuse_big_resizes(monkeypatch, 16 * 16)
    data = ImageFolder(root=str(folder), size=8, mode=mode, load_size=16)
    data.setup()
    images = torch.cat([data.images[s] for s in ("train", "val", "test")])
    assert images.shape[0] == 11 and images.shape[-2:] == ((16, 16) if mode == "crop" else (8, 8))


@pytest.mark.parametrize("mode,key", [("resize", r"size=\[100, 100\] makes 100x100"),
                                      ("crop", r"load_size=100 makes 100x100")])
def test_what_each_mode_holds_is_under_max_pixels(folder, mode, key):
    from cnnlstm.errors import ConfigError

    pattern = (rf"^{key} = 10000 pixels per image \(data.mode={mode}\), more than "
               r"data.max_pixels=5000$")
    with pytest.raises(ConfigError, match=pattern):
        ImageFolder(root=str(folder), size=100, mode=mode, max_pixels=5000)
    assert ImageFolder(root=str(folder), size=70, mode=mode, max_pixels=5000).size == (70, 70)


def test_a_linked_duplicate_image_is_refused(folder):
    import os

    os.symlink(folder / "a" / "img1.png", folder / "b" / "copy.png")
    pattern = (r"copy\.png is the same file as .*img1\.png \(a link\): it could land in "
               "two splits")
    with pytest.raises(DataError, match=pattern):
        ImageFolder(root=str(folder), size=8).setup()
