"""Encode with Keras, decode with LiteRT: does the residual layer decode bit-exactly across runtimes?

    python tools/cross_runtime.py [--limit 10000] [--max-error 0]

The encoder side is nic's own lossless encoder with the Keras originals (weights/mnist/*.keras,
TensorFlow) as its networks: the latent, the lossy reconstruction x_hat and the guided coding are
computed from Keras outputs. The file is then
decoded by `codec.decode` (LiteRT). Prints how many images decode exactly, how many are refused
by the pixel check (a runtime difference caught), and how many fail otherwise (must be 0).
"""

import argparse
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class KerasNetworks:
    """A codec model whose encoder and decoder networks are the Keras originals: everything
    else (tables, residual and guided coders) is the installed model's own."""

    def __init__(self, model_name: str = "mnist"):
        import keras

        from codec.runtime import load_model, training_file

        self.net = load_model(model_name)
        self._encoder = keras.models.load_model(training_file(self.net, "encoder.keras"),
                                                compile=False)
        self._decoder = keras.models.load_model(training_file(self.net, "decoder.keras"),
                                                compile=False)

    def __getattr__(self, name):
        return getattr(self.net, name)

    def encode_latents(self, images: np.ndarray) -> np.ndarray:
        pixels = (images / 255.0).astype(np.float32)[..., None]
        return self._encoder.predict(pixels, verbose=0)[0]

    def decode_floats(self, latents: np.ndarray) -> np.ndarray:
        return self._decoder.predict(latents.astype(np.float32), verbose=0)[..., 0]


def keras_encode(images: np.ndarray, max_error: int, model_name: str = "mnist") -> list[bytes]:
    """The whole lossless encoder (codec.api's exact path) with Keras networks in place of LiteRT."""
    from codec.api import _encode_exact

    networks = KerasNetworks(model_name)
    return [e.data for e in _encode_exact(networks, list(images), max_error)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=10000)
    parser.add_argument("--max-error", type=int, default=0)
    args = parser.parse_args()

    import codec
    from codec.data import load_dataset

    images = load_dataset("mnist")[2][: args.limit]
    exact, refused, wrong = 0, {}, 0
    for start in range(0, len(images), 500):
        chunk = images[start : start + 500]
        for image, data in zip(chunk, keras_encode(chunk, args.max_error)):
            try:
                pixels = codec.decode(data)
            except codec.NicFormatError as error:  # a mismatch caught: an error, not bad pixels
                refused[str(error)] = refused.get(str(error), 0) + 1
                continue
            error = np.abs(pixels.astype(int) - image.astype(int)).max()
            exact += error <= args.max_error
            wrong += error > args.max_error
    print(f"{len(images)} MNIST test images, max_error {args.max_error}, Keras encode -> LiteRT "
          f"decode: {exact} decoded within max_error, {sum(refused.values())} refused with an "
          f"error, {wrong} returned wrong pixels")
    for message, count in refused.items():
        print(f"  refused {count}x: {message}")


if __name__ == "__main__":
    main()
