"""Exploratory, not shipped: a spatial-latent convolutional VAE for the CIFAR-10 subset, to see
whether a latent of 8x8xC numbers (instead of `cifar`'s dense 128) can beat WebP (issue 13).

    python tools/experiments/cifar_spatial_vae.py --weight 300 --channels 8 --epochs 30 --out /tmp/spatial

Loss: weight * sum of squared errors + KL (a VAE with a Gaussian prior and no hyperprior);
trained on the subset's jittered training split (codec.train.cvae), quantised with nic's tables
(codec.entropy.build_tables) at seven step multipliers. Prints, per level, the ideal payload
(bits / 8, no header) and the PSNR over all pixels of the 1,000 test images; writes OUT.json.

Measured on 2026-12-05 (weight 300, 8 channels, 30 epochs, about 15 s an epoch on 2 cores): 139 B
at 23.47 dB to 328 B at 23.89 dB. The latent saturates near 23.9 dB, and at 139 B WebP (quality 5)
gives 24.5 dB: a Gaussian-prior VAE trained on 4,000 images does not reach WebP here.
"""

import argparse
import json

import keras
import numpy as np
from keras import layers, ops

from codec.entropy import build_tables
from codec.model import CVAE
from codec.train.common import scale, splits  # the shipped models' data pipeline
from codec.train.cvae import training_data

MULTIPLIERS = {1: 4.0, 2: 3.0, 3: 2.0, 4: 1.5, 5: 1.0, 6: 0.7, 7: 0.5}


def encoder(channels: int) -> keras.Model:
    """32x32x3 -> (mean, log variance) of an 8x8xchannels latent, flattened."""
    image = keras.Input((32, 32, 3))
    hidden = layers.Conv2D(96, 5, strides=2, padding="same", activation="relu")(image)
    hidden = layers.Conv2D(128, 3, strides=2, padding="same", activation="relu")(hidden)
    hidden = layers.Conv2D(128, 3, padding="same", activation="relu")(hidden)
    mean = layers.Flatten()(layers.Conv2D(channels, 3, padding="same")(hidden))
    log_variance = layers.Flatten()(layers.Conv2D(channels, 3, padding="same")(hidden))
    return keras.Model(image, [mean, log_variance])


def decoder(channels: int) -> keras.Model:
    """The flattened 8x8xchannels latent -> a 32x32x3 image in [0, 1]."""
    latent = keras.Input((64 * channels,))
    hidden = layers.Reshape((8, 8, channels))(latent)
    hidden = layers.Conv2D(128, 3, padding="same", activation="relu")(hidden)
    hidden = layers.Conv2DTranspose(128, 3, strides=2, padding="same", activation="relu")(hidden)
    hidden = layers.Conv2DTranspose(96, 3, strides=2, padding="same", activation="relu")(hidden)
    return keras.Model(latent, layers.Conv2D(3, 3, padding="same", activation="sigmoid")(hidden))


class SquaredErrorVAE(CVAE):
    """nic's CVAE trained on weight * squared error + KL instead of cross-entropy + KL."""

    def _loss_terms(self, data, training):
        images = data[0] if isinstance(data, (tuple, list)) else data
        mean, log_variance = self.encoder(images, training=training)
        latent = mean
        if training:
            noise = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
            latent = mean + ops.exp(0.5 * log_variance) * noise
        decoded = self.decoder(latent, training=training)
        squared = ops.mean(ops.sum(ops.square(images - decoded), axis=(1, 2, 3)))
        kl = ops.mean(ops.sum(-0.5 * (1.0 + log_variance - ops.square(mean)
                                      - ops.exp(log_variance)), axis=1))
        return {"loss": self.beta * squared + kl, "bce": squared, "kl": kl,
                "mse": ops.mean(ops.square(images - decoded))}


def rate_distortion(model: SquaredErrorVAE, x_fit, x_test) -> list[tuple[int, float, float]]:
    """(level, mean ideal payload bytes, PSNR over all test pixels) per multiplier."""
    means, log_variances = model.encoder.predict(scale(x_fit), batch_size=256, verbose=0)
    sigmas = np.sqrt(np.mean(np.exp(log_variances), axis=0)).astype(np.float32)
    tables = build_tables(means, sigmas, MULTIPLIERS)
    test_means = model.encoder.predict(scale(x_test), batch_size=256, verbose=0)[0]
    points = []
    for level in MULTIPLIERS:
        symbols = tables[level].quantize(test_means)
        decoded = model.decoder.predict(tables[level].dequantize(symbols), batch_size=256,
                                        verbose=0)
        pixels = np.clip(np.rint(decoded * 255), 0, 255)
        psnr = 10 * np.log10(255**2 / np.mean((pixels - x_test.astype(float)) ** 2))
        points.append((level, float(tables[level].ideal_bits(symbols).mean() / 8), float(psnr)))
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weight", type=float, default=300.0)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    x_fit, x_val, x_test = splits("cifar", None)
    model = SquaredErrorVAE(encoder(args.channels), decoder(args.channels), beta=args.weight,
                            seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(training_data("compress", x_fit, 0, jitter=True), epochs=args.epochs,
              validation_data=(scale(x_val), scale(x_val)), verbose=2,
              callbacks=[keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=2, min_lr=1e-5)])
    points = rate_distortion(model, x_fit, x_test)
    for level, payload, psnr in points:
        print(f"level {level} (step x{MULTIPLIERS[level]}): {payload:.1f} B at {psnr:.2f} dB")
    with open(f"{args.out}.json", "w") as file:
        json.dump(vars(args) | {"points": points}, file, indent=1)


if __name__ == "__main__":
    main()
