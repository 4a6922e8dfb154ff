"""Colour: lossless and max-error keep every channel; colour files are format version 4."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

import codec
from codec.data import load_dataset
from codec.images import to_grey
from codec.normalise import normalise
from codec.runtime import load_model


@pytest.fixture(scope="module")
def cifar_test():
    return load_dataset("cifar")[2][:12]


def test_colour_lossless_is_exact_in_every_channel(cifar_test):
    for image in cifar_test:
        data = codec.encode(image, lossless=True)
        info = codec.inspect(data)
        assert (info["format_version"], info["channels"], info["mode"]) == (4, 3, "lossless")
        assert np.array_equal(codec.decode(data), image)


@pytest.mark.parametrize("max_error", [1, 4, 16])
def test_colour_max_error_holds_in_every_channel(cifar_test, max_error):
    image = cifar_test[3]
    decoded = codec.decode(codec.encode(image, max_error=max_error))
    assert decoded.shape == image.shape
    assert np.abs(decoded.astype(int) - image.astype(int)).max() <= max_error


def test_a_colour_png_round_trips_losslessly_through_pillow(tmp_path, cifar_test):
    path = tmp_path / "photo.png"
    Image.fromarray(cifar_test[0]).save(path)
    Image.open(path).save(tmp_path / "photo.nic", lossless=True)
    reopened = Image.open(tmp_path / "photo.nic")
    assert reopened.mode == "RGB"
    assert np.array_equal(np.asarray(reopened), cifar_test[0])


def test_a_big_colour_photo_is_exact_and_smaller_than_raw():
    from skimage import data

    photo = data.astronaut()
    encoded = codec.encode(photo, lossless=True)
    assert np.array_equal(codec.decode(encoded), photo)
    assert len(encoded) < photo.nbytes * 0.6


def test_colour_with_transparency_is_refused_not_flattened(cifar_test):
    rgba = np.dstack([cifar_test[0], np.full((32, 32), 128, np.uint8)])
    with pytest.raises(codec.NicError, match="alpha"):
        codec.encode(rgba, lossless=True)


def test_a_damaged_colour_file_is_refused(cifar_test):
    data = bytearray(codec.encode(cifar_test[1], lossless=True))
    data[len(data) // 2] ^= 0x10
    with pytest.raises(codec.NicFormatError):
        codec.decode(bytes(data))


# --- the colour model and the colour denoiser ----------------------------------------------


def _psnr(a, b):
    return 10 * np.log10(255**2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


def test_a_colour_png_round_trips_as_colour_through_the_cli(tmp_path, cifar_test):
    from typer.testing import CliRunner

    from codec.cli import app

    source = tmp_path / "photo.png"
    Image.fromarray(cifar_test[5]).save(source)
    runner = CliRunner()
    assert runner.invoke(app, ["encode", str(source)]).exit_code == 0
    info = codec.inspect(tmp_path / "photo.nic")
    assert (info["model"], info["channels"], info["format_version"]) == ("cifar", 3, 4)
    assert info["file_bytes"] < 60
    result = runner.invoke(app, ["decode", str(tmp_path / "photo.nic"), "-o", str(tmp_path / "back.png")])
    assert result.exit_code == 0, result.output
    back = Image.open(tmp_path / "back.png")
    assert back.mode == "RGB" and back.size == (32, 32)


def test_the_colour_model_keeps_cifar_images_recognisable(cifar_test):
    decoded = np.stack(codec.decode_batch(codec.encode_batch(cifar_test)))
    assert decoded.shape == cifar_test.shape
    assert _psnr(cifar_test, decoded) > 18


def _typeset_in_colour(digit: str, ink: tuple, paper: tuple, size: int = 100) -> np.ndarray:
    """A digit in Pillow's own font, in colour on coloured paper."""
    image = Image.new("RGB", (size, size), paper)
    font = ImageFont.load_default(size=int(size * 0.7))
    ImageDraw.Draw(image).text((size / 2, size / 2), digit, fill=ink, font=font, anchor="mm")
    return np.asarray(image)


def _reads_as(pixels: np.ndarray) -> int:
    return int(load_model("digits").classify(normalise(pixels)[0][None])[0].argmax())


@pytest.mark.parametrize("digit, ink, paper", [("3", (200, 30, 30), (250, 240, 170)),
                                               ("7", (20, 40, 160), (235, 235, 250))])
def test_a_digit_typeset_in_colour_keeps_its_digit_and_says_its_colour_is_lost(digit, ink, paper):
    """The colour model's 32x32 thumbnail drew these as a smudge and a dot; the digit model,
    whose readers read them surely, keeps the digit and says what it drops."""
    with pytest.warns(codec.errors.NicFidelityWarning, match="picture of a digit is coded in grey"):
        data = codec.encode(Image.fromarray(_typeset_in_colour(digit, ink, paper)))  # PIL too
    assert codec.inspect(data)["model"].startswith("mnist") and len(data) < 40
    decoded = codec.decode(data)
    assert decoded.shape == (100, 100) and _reads_as(decoded) == int(digit)


def test_a_transparent_colour_digit_is_not_sent_to_lossless_which_refuses_it():
    """The colour-digit line offers --lossless, which refuses an alpha channel: a transparent
    picture gets the line without that offer, and is told its transparency is lost."""
    from codec.api import encode_detailed

    picture = _typeset_in_colour("3", (200, 30, 30), (250, 240, 170))
    alpha = np.where(picture[..., 2] > 100, 0, 255).astype(np.uint8)  # paper see-through
    result = encode_detailed([np.dstack([picture, alpha])])[0]
    assert result.model == "mnist"
    assert any("picture of a digit is coded in grey" in w for w in result.warnings)
    assert any("transparency is lost" in w for w in result.warnings)
    assert not any("--lossless" in w for w in result.warnings)


def test_in_one_batch_each_picture_goes_where_it_is_kept(cifar_test):
    """A colour digit, a grey digit and an enlarged photo, coded together, at an explicit
    level too: the routing is per picture."""
    photo = np.asarray(Image.fromarray(cifar_test[0]).resize((96, 96), Image.Resampling.BICUBIC))
    batch = [_typeset_in_colour("3", (200, 30, 30), (250, 240, 170)),
             to_grey(_typeset_in_colour("4", (0, 0, 0), (255, 255, 255))), photo]
    for quality in (None, 5):
        results = codec.api.encode_detailed(batch, quality=quality)
        assert [r.model for r in results] == ["mnist", "mnist", "cifar"]
        assert [_reads_as(codec.decode(r.data)) for r in results[:2]] == [3, 4]


def test_enlarged_colour_photos_stay_with_the_colour_model(cifar_test):
    """A photo is no digit however surely one reader guesses: it keeps its colour thumbnail."""
    enlarged = [np.asarray(Image.fromarray(image).resize((96, 96), Image.Resampling.BICUBIC))
                for image in cifar_test]
    with pytest.warns(codec.errors.NicFidelityWarning, match="colour thumbnail"):
        files = codec.encode_batch(enlarged)
    assert {codec.inspect(data)["model"] for data in files} == {"cifar"}


def test_a_colour_image_through_pillow_is_colour(tmp_path, cifar_test):
    Image.fromarray(cifar_test[2]).save(tmp_path / "x.nic")
    assert Image.open(tmp_path / "x.nic").mode == "RGB"


def test_a_grey_image_given_to_the_colour_model_works(cifar_test):
    grey = np.asarray(Image.fromarray(cifar_test[4]).convert("L"))
    decoded = codec.decode(codec.encode(grey, model="cifar"))
    assert decoded.shape == (32, 32, 3)
    assert _psnr(np.repeat(grey[:, :, None], 3, axis=2), decoded) > 15


def test_a_colour_image_given_to_a_grey_model_says_its_colour_is_lost(cifar_test):
    with pytest.warns(codec.errors.NicFidelityWarning, match="colour is lost"):
        codec.encode(cifar_test[0], model="fashion", quality=5)


@pytest.mark.parametrize("kind", ["gaussian", "poisson", "salt-pepper", "multiplicative"])
def test_the_colour_denoiser_beats_the_noisy_input_and_both_filters(kind):
    from scipy.ndimage import median_filter, uniform_filter

    from codec.noise import SEED_NOISE_TYPES, add_noise

    clean = load_dataset("cifar")[2][-60:]
    noisy = add_noise(clean, kind, np.random.default_rng(7), SEED_NOISE_TYPES)
    cleaned = codec.denoise(noisy, model="cifar-denoise")
    mean = np.rint(uniform_filter(noisy.astype(float), size=(1, 3, 3, 1), mode="reflect"))
    median = median_filter(noisy, size=(1, 3, 3, 1), mode="reflect")

    def mae(x):
        return np.mean(np.abs(x.astype(float) - clean))

    assert _psnr(clean, cleaned) > max(_psnr(clean, noisy), _psnr(clean, mean), _psnr(clean, median))
    assert mae(cleaned) < min(mae(mean), mae(median))


def test_nic_denoise_writes_a_clean_image_and_keeps_the_noisy_one(tmp_path):
    from typer.testing import CliRunner

    from codec.cli import app
    from codec.noise import SEED_NOISE_TYPES, add_noise

    clean = load_dataset("cifar")[2][-1]
    noisy = add_noise(clean[None], "gaussian", np.random.default_rng(1), SEED_NOISE_TYPES)[0]
    Image.fromarray(noisy).save(tmp_path / "noisy.png")
    result = CliRunner().invoke(app, ["denoise", str(tmp_path / "noisy.png")])
    assert result.exit_code == 0, result.output
    cleaned = np.asarray(Image.open(tmp_path / "noisy.denoised.png"))
    assert _psnr(clean, cleaned) > _psnr(clean, noisy) + 3
    assert np.array_equal(np.asarray(Image.open(tmp_path / "noisy.png")), noisy)
    again = CliRunner().invoke(app, ["denoise", str(tmp_path / "noisy.png")])
    assert again.exit_code != 0 and "exists" in again.output  # refused, as encode and decode do
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noisy.denoised.png", "noisy.png"]


@pytest.mark.parametrize("model, says", [
    ("nope", "model 'nope' is not installed"),
    ("mnist", "model 'mnist' is not a denoising filter (installed filters: cifar-denoise)"),
    ("mnist-denoise", "is a denoising codec, not a filter: encode with --model mnist-denoise"),
])
def test_nic_denoise_names_what_a_model_that_is_no_filter_is(tmp_path, model, says):
    from typer.testing import CliRunner

    from codec.cli import app

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "x.png")
    result = CliRunner().invoke(app, ["denoise", str(tmp_path / "x.png"), "--model", model])
    assert result.exit_code == 2 and says in result.output, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]


def test_a_colour_image_the_latent_cannot_keep_is_escalated_warned_or_refused():
    noise = np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    result = codec.api.encode_detailed([noise])[0]  # auto: within +-16 in every channel
    assert (result.max_error, result.escalated, result.warnings) == (16, True, [])
    decoded = codec.decode(result.data)
    assert np.abs(decoded.astype(int) - noise).max() <= 16
    with pytest.warns(codec.errors.NicFidelityWarning, match="differs from the input"):
        codec.encode(noise, quality=1)
    with pytest.raises(codec.errors.NicFidelityError):
        codec.encode(noise, quality=1, strict=True)


def _ramp(width: int, height: int) -> np.ndarray:
    """Red climbs left to right, green top to bottom, blue stays mid-grey: four corners of
    four colours."""
    red = np.broadcast_to(np.linspace(0, 255, width), (height, width))
    green = np.broadcast_to(np.linspace(0, 255, height)[:, None], (height, width))
    blue = np.full((height, width), 128.0)
    return np.stack([red, green, blue], axis=2).round().astype(np.uint8)


def test_a_thumbnail_whose_colours_drift_is_not_passed_by_its_pixels_alone():
    """The colour model's level 1 keeps this ramp over the pixel floor while its colours move
    by over 100 grey levels at the ends: auto keeps the colours within the card's bound, or
    says in the warning that they move."""
    from codec.fidelity import colour_drift

    net = load_model("cifar")
    bound = net.card["fidelity"]["colour_shift"]
    ramp = _ramp(32, 32)
    with pytest.warns(codec.errors.NicFidelityWarning, match="colours move by up to"):
        codec.encode(ramp, model="cifar", quality=1)
    result = codec.api.encode_detailed([ramp], model="cifar")[0]
    drift = colour_drift(ramp[None], codec.decode(result.data)[None])[0]
    assert drift <= bound or any("colours move" in w for w in result.warnings)
    big = codec.api.encode_detailed([_ramp(120, 80)], model="cifar")[0]
    assert any("colours move" in w for w in big.warnings) or big.max_error is not None
