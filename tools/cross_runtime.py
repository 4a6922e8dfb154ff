"""Encode with Keras, decode with LiteRT: does the residual layer decode bit-exactly across runtimes?

    python tools/cross_runtime.py [--limit 10000] [--max-error 0]

The encoder side runs the Keras originals (weights/mnist/*.keras, TensorFlow): the latent, the
lossy reconstruction x_hat and the residual are computed from Keras outputs. The file is then
decoded by `codec.decode` (LiteRT). Prints how many images decode exactly, how many are refused
by the pixel check (a runtime difference caught), and how many fail otherwise (must be 0).
"""

import argparse
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def keras_encode(images: np.ndarray, max_error: int, model_name: str = "mnist") -> list[bytes]:
    """The whole encoder with Keras networks in place of LiteRT."""
    import keras

    from codec.api import RESIDUAL_MODE, _header
    from codec.entropy import encode_symbols
    from codec.format import pack
    from codec.images import prepare
    from codec.residual import pixel_check
    from codec.runtime import load_model, to_uint8, training_file

    net = load_model(model_name)
    encoder = keras.models.load_model(training_file(net, "encoder.keras"), compile=False)
    decoder = keras.models.load_model(training_file(net, "decoder.keras"), compile=False)
    prepared = [prepare(image) for image in images]
    model_images = np.stack([m for m, _ in prepared])
    means = encoder.predict((model_images / 255.0).astype(np.float32)[..., None], verbose=0)[0]
    table = net.tables[net.residual.base_quality]
    symbols = table.quantize(means)
    x_hats = to_uint8(decoder.predict(table.dequantize(symbols), verbose=0)[..., 0])
    files = []
    for row, image, x_hat, (_, geometry) in zip(symbols, model_images, x_hats, prepared):
        latent = encode_symbols(row, table)
        body, decoded = net.residual.encode(image, x_hat, max_error)
        payload = bytes([len(latent)]) + latent + body + pixel_check(decoded)
        files.append(pack(_header(net, RESIDUAL_MODE + max_error, geometry), payload))
    return files


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
