"""The convolutional variational autoencoder (CVAE) behind nic, in Keras 3.

Kingma & Welling, "Auto-Encoding Variational Bayes" (2014). The encoder maps a 28x28 grey image
to the mean and log-variance of a 16-d Gaussian posterior; the decoder maps a latent back to
pixel probabilities. Training minimises BCE + beta * KL. Only training and export import this
module: encoding and decoding run the exported LiteRT models (see runtime.py).

    x (28,28,1) -> Conv 32 s2 -> Conv 64 s2 -> Dense 128 -> (mean, logvar) in R^16
    z (16)      -> Dense 7*7*64 -> ConvT 64 s2 -> ConvT 32 s2 -> ConvT 1 s1 sigmoid -> x_hat
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers, ops  # noqa: E402

__all__ = ["IMAGE_SIZE", "LATENT_DIM", "CVAE", "build_encoder", "build_decoder", "build_classifier",
           "build_colour_encoder", "build_colour_decoder", "build_denoiser", "phase_form"]

IMAGE_SIZE = 28
LATENT_DIM = 16


def build_encoder(latent_dim: int = LATENT_DIM, input_size: int = IMAGE_SIZE) -> keras.Model:
    """Image in [0, 1], shape (input_size, input_size, 1) -> (mean, logvar), each (latent_dim,).

    input_size 28 (the codec) or 14 (2x super-resolution: the first convolution keeps 14x14).
    """
    image = keras.Input((input_size, input_size, 1), name="image")
    first_stride = input_size // 14
    h = layers.Conv2D(32, 3, strides=first_stride, padding="same", activation="relu")(image)
    h = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Flatten()(h)
    h = layers.Dense(128, activation="relu")(h)
    mean = layers.Dense(latent_dim, name="mean")(h)
    logvar = layers.Dense(latent_dim, name="logvar")(h)
    return keras.Model(image, [mean, logvar], name="encoder")


DECODER_WIDTHS = (64, 32)


def build_decoder(latent_dim: int = LATENT_DIM, widths: tuple[int, int] = DECODER_WIDTHS) -> keras.Model:
    """Latent (latent_dim,) -> pixel intensities in [0, 1], shape (28, 28, 1). `widths`: the
    channels at 7x7 and 14x14, and at 28x28: (64, 32) costs about 22 million multiply-adds an
    image, (32, 16) about 5.5 million."""
    wide, narrow = widths
    latent = keras.Input((latent_dim,), name="latent")
    h = layers.Dense(7 * 7 * wide, activation="relu")(latent)
    h = layers.Reshape((7, 7, wide))(h)
    h = layers.Conv2DTranspose(wide, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Conv2DTranspose(narrow, 3, strides=2, padding="same", activation="relu")(h)
    image = layers.Conv2DTranspose(1, 3, strides=1, padding="same", activation="sigmoid")(h)
    return keras.Model(latent, image, name="decoder")


# A 3x3 transposed convolution of stride 2 ('same') draws each output pixel of phase d (0: even,
# 1: odd row or column) from two input pixels, j - 1 and j, or from j alone: TAPS maps
# (phase, tap) to the kernel index it uses (tap 0: input j - 1, tap 1: input j).
_TAPS = {(0, 0): 2, (0, 1): 0, (1, 1): 1}


def phase_form(decoder: keras.Model, logit_clip: float | None = None) -> keras.Model:
    """The same function as a `build_decoder` network, computed faster: each stride-2 transposed
    convolution becomes a 2x2 convolution at the input's size that writes the four output
    phases as channels, then depth-to-space; the last, stride-1 one a convolution with the
    kernel flipped. The outputs agree to float rounding (about 1e-6); LiteRT's XNNPACK kernels
    run it about 1.45x faster than the transposed convolutions (exported by `nic train`).
    logit_clip: clip the last layer's logit to +-logit_clip before the sigmoid (the int8 export,
    codec/train/decoder.py: int8's 256 steps then cover only logits that change a grey level)."""
    dense, reshape, up1, up2, last = [layer for layer in decoder.layers
                                      if not isinstance(layer, layers.InputLayer)]
    latent = keras.Input(decoder.input_shape[1:], name="latent")
    # Layers are named, so that the export is the same bytes whatever else the process built.
    first = layers.Dense(dense.units, activation="relu", name="dense")
    weighted = [(first, dense.get_weights())]
    h = layers.Reshape(reshape.target_shape, name="grid")(first(latent))
    for step, up in enumerate((up1, up2), start=1):
        kernel, bias = up.get_weights()
        conv = layers.Conv2D(4 * kernel.shape[2], 2, activation="relu", name=f"phases_{step}")
        weighted.append((conv, [_phase_kernel(kernel), np.tile(bias, 4)]))
        h = conv(layers.ZeroPadding2D(((1, 0), (1, 0)), name=f"pad_{step}")(h))
        h = layers.Lambda(lambda t: tf.nn.depth_to_space(t, 2), name=f"interleave_{step}")(h)
    kernel, bias = last.get_weights()
    conv = layers.Conv2D(kernel.shape[2], kernel.shape[0], padding="same",
                         activation="sigmoid" if logit_clip is None else None, name="image")
    weighted.append((conv, [kernel[::-1, ::-1].transpose(0, 1, 3, 2), bias]))
    image = conv(h)
    if logit_clip is not None:
        image = layers.Lambda(lambda t: tf.clip_by_value(t, -logit_clip, logit_clip), name="clip")(image)
        image = layers.Activation("sigmoid", name="sigmoid")(image)
    model = keras.Model(latent, image, name="decoder")
    for layer, weights in weighted:  # Keras 3 layers take weights only once built
        layer.set_weights(weights)
    return model


def _phase_kernel(kernel: np.ndarray) -> np.ndarray:
    """(3, 3, out, in) transposed-convolution kernel -> (2, 2, in, 4 * out) kernel of the
    convolution that writes output phase (dy, dx) to channels (2 dy + dx) * out onwards (the
    order depth_to_space reads)."""
    out = kernel.shape[2]
    phases = np.zeros((2, 2, kernel.shape[3], 4 * out), kernel.dtype)
    for (dy, ty), ky in _TAPS.items():
        for (dx, tx), kx in _TAPS.items():
            phase = 2 * dy + dx
            phases[ty, tx, :, phase * out:(phase + 1) * out] = kernel[ky, kx].T
    return phases


def build_colour_encoder(latent_dim: int, size: int = 32) -> keras.Model:
    """RGB image in [0, 1], (size, size, 3) -> (mean, logvar): three strided convolutions to a
    4x4 grid, wider than the grey model's, since colour photos carry far more detail."""
    image = keras.Input((size, size, 3), name="image")
    h = image
    for filters in (64, 128, 256):
        h = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Flatten()(h)
    h = layers.Dense(256, activation="relu")(h)  # 256, not 512: the weights stay under 8 MiB
    mean = layers.Dense(latent_dim, name="mean")(h)
    logvar = layers.Dense(latent_dim, name="logvar")(h)
    return keras.Model(image, [mean, logvar], name="encoder")


def build_colour_decoder(latent_dim: int, size: int = 32) -> keras.Model:
    """Latent -> RGB intensities in [0, 1], (size, size, 3): the encoder's mirror."""
    latent = keras.Input((latent_dim,), name="latent")
    grid = size // 8
    h = layers.Dense(grid * grid * 256, activation="relu")(latent)
    h = layers.Reshape((grid, grid, 256))(h)
    for filters in (128, 64, 32):
        h = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", activation="relu")(h)
    image = layers.Conv2D(3, 3, padding="same", activation="sigmoid")(h)
    return keras.Model(latent, image, name="decoder")


def build_denoiser(channels: int = 3, width: int = 32, depth: int = 6) -> keras.Model:
    """A fully convolutional denoiser (DnCNN, Zhang et al. 2017): any image size in, the same
    size out. It predicts the noise and subtracts it from its input, a skip connection that
    leaves what the noise did not touch as it was: a mildly noisy image (salt and pepper at
    0.4 %) comes back almost unchanged instead of blurred through a bottleneck."""
    noisy = keras.Input((None, None, channels), name="noisy")
    h = noisy
    for _ in range(depth - 1):
        h = layers.Conv2D(width, 3, padding="same", activation="relu")(h)
    noise = layers.Conv2D(channels, 3, padding="same")(h)
    clean = layers.ReLU(max_value=1.0)(layers.Subtract()([noisy, noise]))  # clipped to [0, 1]
    return keras.Model(noisy, clean, name="denoiser")


class CVAE(keras.Model):
    """Encoder and decoder trained together; `call` decodes the posterior mean.

    Trained on (input, target) pairs: the same images for the codec, noisy -> clean for
    denoising, 14x14 -> 28x28 for super-resolution.
    """

    def __init__(self, encoder=None, decoder=None, beta: float = 1.0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder or build_encoder()
        self.decoder = decoder or build_decoder()
        self.beta = beta
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {
            name: keras.metrics.Mean(name=name) for name in ("loss", "bce", "kl", "mse")
        }

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, images):
        mean, _ = self.encoder(images)
        return self.decoder(mean)

    def _loss_terms(self, data, training: bool):
        inputs, images = _pair(data)
        mean, logvar = self.encoder(inputs, training=training)
        if training:
            noise = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
            latent = mean + ops.exp(0.5 * logvar) * noise
        else:
            latent = mean  # evaluation measures the codec's path: decode the mean
        decoded = self.decoder(latent, training=training)
        # Summed over pixels (keras averages only the size-1 channel axis) and latent dims,
        # averaged over the batch: the negative ELBO in nats per image.
        channels = ops.cast(ops.shape(images)[-1], "float32")  # keras averages over channels
        bce = ops.mean(ops.sum(keras.losses.binary_crossentropy(images, decoded), axis=(1, 2)) * channels)
        kl = ops.mean(
            ops.sum(-0.5 * (1.0 + logvar - ops.square(mean) - ops.exp(logvar)), axis=1)
        )
        mse = ops.mean(ops.square(images - decoded))
        return {"loss": bce + self.beta * kl, "bce": bce, "kl": kl, "mse": mse}

    def _record(self, values):
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            values = self._loss_terms(data, training=True)
        grads = tape.gradient(values["loss"], self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self._record(values)

    def test_step(self, data):
        return self._record(self._loss_terms(data, training=False))


def _pair(data):
    """Keras hands over x, (x,) or (x, y): return (input, target), the target defaulting to x."""
    if isinstance(data, (tuple, list)):
        return (data[0], data[1]) if len(data) > 1 and data[1] is not None else (data[0], data[0])
    return data, data


def build_classifier(classes: int = 10, input_size: int = IMAGE_SIZE,
                     architecture: str = "small") -> keras.Model:
    """Image in [0, 1], (input_size, input_size, 1) -> class probabilities (classes,).

    Small on purpose: it runs beside the codec on every encode, to check that the decoded image
    still reads as the class the input reads as (codec/fidelity.py). architecture "lenet" is
    the second reader: 5x5 convolutions and max pooling, built unlike the first so that the
    two do not share their blind spots.
    """
    image = keras.Input((input_size, input_size, 1), name="image")
    if architecture == "lenet":
        return _lenet(image, classes)
    h = layers.Conv2D(32, 3, padding="same", activation="relu")(image)
    h = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Flatten()(h)
    h = layers.Dropout(0.3)(h)
    h = layers.Dense(128, activation="relu")(h)
    probabilities = layers.Dense(classes, activation="softmax", name="probabilities")(h)
    return keras.Model(image, probabilities, name="classifier")


def _lenet(image, classes: int) -> keras.Model:
    h = layers.Conv2D(32, 5, padding="same", activation="relu")(image)
    h = layers.MaxPooling2D()(h)
    h = layers.Conv2D(64, 5, padding="same", activation="relu")(h)
    h = layers.MaxPooling2D()(h)
    h = layers.Flatten()(h)
    h = layers.Dropout(0.5)(h)
    h = layers.Dense(256, activation="relu")(h)
    probabilities = layers.Dense(classes, activation="softmax", name="probabilities")(h)
    return keras.Model(image, probabilities, name="classifier")
