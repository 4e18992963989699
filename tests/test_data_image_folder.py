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
    with pytest.raises(DataError, match=r"data\.val_fraction=0\.95 \+ data\.test_fraction=0\.1 must be < 1"):
        ImageFolder(root=str(folder), val_fraction=0.95, test_fraction=0.1)
    data = ImageFolder(root=str(folder), val_fraction=0.55, test_fraction=0.4)  # rounds to 6 + 4 of 10
    with pytest.raises(DataError, match=r"data\.val_fraction=0\.55 and data\.test_fraction=0\.4 leave no training "
                                        r"images: 10 images would split into val 6, test 4, train 0"):
        data.setup()


def test_split_errors_are_one_line_through_the_config(folder):
    from conftest import compose_config

    from cnnlstm.engine.builder import build

    cfg = compose_config("model=conv_autoencoder", "data=image_folder", f"data.root={folder}", "data.val_fraction=0.95")
    with pytest.raises(DataError, match=r"^data\.val_fraction=0\.95 \+ data\.test_fraction=0\.1 must be < 1[^\n]*$"):
        build(cfg.data, "data")


def test_images_too_small_for_ssim_are_refused_before_training(folder, tmp_path):
    from conftest import compose_config

    from cnnlstm.engine.run import train
    from cnnlstm.errors import ConfigError

    cfg = compose_config("model=denoiser", "data=image_folder", f"data.root={folder}", "data.size=5", "logger=none")
    with pytest.raises(ConfigError, match=r"^data\.size must be at least 6 pixels for the SSIM metric's 11-pixel "
                                          r"window, got \[5, 5\]$"):
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
