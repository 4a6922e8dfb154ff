"""Encode with TensorFlow, decode with LiteRT: does the residual layer decode bit-exactly across runtimes?

    python tools/cross_runtime.py [--limit 10000] [--max-error 0] [--model mnist]

The encoder side is nic's own lossless encoder with TensorFlow computing its networks: the Keras
original of the encoder and, for a float decoder, of the decoder (weights/<model>/*.keras); an
int8 decoder (`nic train --decoder-only`), which Keras cannot run, through TensorFlow's own build of the
TFLite interpreter. The latent, the lossy reconstruction x_hat and the guided coding are computed
from those outputs. The file is then decoded by `codec.decode` (LiteRT). Prints how many images
decode exactly, how many are refused by the pixel check (a runtime difference caught), and how
many fail otherwise (must be 0).
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
        if self.net.card.get("decoder_export", "").startswith("int8"):
            self._decoder = TensorFlowLite(training_file(self.net, "decoder.tflite").read_bytes())
        else:
            self._decoder = keras.models.load_model(training_file(self.net, "decoder.keras"),
                                                    compile=False)

    def __getattr__(self, name):
        return getattr(self.net, name)

    def encode_latents(self, images: np.ndarray) -> np.ndarray:
        pixels = (images / 255.0).astype(np.float32)[..., None]
        return self._encoder.predict(pixels, verbose=0)[0]

    def decode_floats(self, latents: np.ndarray) -> np.ndarray:
        return self._decoder.predict(latents.astype(np.float32), verbose=0)[..., 0]


class TensorFlowLite:
    """A LiteRT flatbuffer run by TensorFlow's tf.lite.Interpreter (not ai_edge_litert)."""

    def __init__(self, model_bytes: bytes):
        import tensorflow as tf

        self._interpreter = tf.lite.Interpreter(model_content=model_bytes, num_threads=1)

    def predict(self, inputs: np.ndarray, verbose: int = 0) -> np.ndarray:
        index = self._interpreter.get_input_details()[0]["index"]
        self._interpreter.resize_tensor_input(index, inputs.shape)
        self._interpreter.allocate_tensors()
        self._interpreter.set_tensor(index, inputs)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._interpreter.get_output_details()[0]["index"])


def keras_encode(images: np.ndarray, max_error: int, model_name: str = "mnist") -> list[bytes]:
    """The whole lossless encoder (codec.api's exact path) with Keras networks in place of LiteRT."""
    from codec.api import _encode_exact

    networks = KerasNetworks(model_name)
    return [e.data for e in _encode_exact(networks, list(images), max_error)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=10000)
    parser.add_argument("--max-error", type=int, default=0)
    parser.add_argument("--model", default="mnist", help="an installed grey model with a residual layer")
    args = parser.parse_args()

    import codec
    from codec.data import load_dataset

    images = load_dataset("mnist")[2][: args.limit]
    exact, refused, wrong = 0, {}, 0
    for start in range(0, len(images), 500):
        chunk = images[start : start + 500]
        for image, data in zip(chunk, keras_encode(chunk, args.max_error, args.model)):
            try:
                pixels = codec.decode(data)
            except codec.NicFormatError as error:  # a mismatch caught: an error, not bad pixels
                refused[str(error)] = refused.get(str(error), 0) + 1
                continue
            error = np.abs(pixels.astype(int) - image.astype(int)).max()
            exact += error <= args.max_error
            wrong += error > args.max_error
    print(f"{len(images)} MNIST test images, model {args.model}, max_error {args.max_error}, "
          f"TensorFlow encode -> LiteRT "
          f"decode: {exact} decoded within max_error, {sum(refused.values())} refused with an "
          f"error, {wrong} returned wrong pixels")
    for message, count in refused.items():
        print(f"  refused {count}x: {message}")


if __name__ == "__main__":
    main()
