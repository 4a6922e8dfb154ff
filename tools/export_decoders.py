"""Re-export grey CVAE decoders to LiteRT in phase form, from their Keras originals.

    python tools/export_decoders.py weights/mnist weights/mnist-fine weights/fashion weights/fashion-fine

`codec.model.phase_form` computes the same function as the decoder `nic train` builds (its
outputs agree to float rounding) with convolutions and depth-to-space instead of transposed
convolutions, which LiteRT's XNNPACK kernels run about 1.4x faster. The weights and the model id
stay: files written with the old export decode with the new one (the guided coder codes away
from rounding edges, and a pixel check refuses what it cannot vouch for). Each folder's
decoder.tflite is rewritten from its decoder.keras and the card's fingerprints and
`decoder_export` updated; `nic train` exports new grey models this way already. A model
whose decoder is int8 (`nic train --decoder-only`) is left alone: re-exporting
it in float would change its pixels under the same model id.
"""

import json
import sys
from pathlib import Path


def main(folders: list[str]) -> None:
    import keras

    from codec.model import phase_form
    from codec.train.common import export, fingerprints

    for folder in map(Path, folders):
        if json.loads((folder / "card.json").read_text()).get("decoder_export", "").startswith("int8"):
            print(f"{folder}: an int8 decoder, left as it is")
            continue
        decoder = keras.models.load_model(folder / "decoder.keras", compile=False)
        export(phase_form(decoder), folder / "decoder.tflite")
        card_path = folder / "card.json"
        card = json.loads(card_path.read_text())
        card["decoder_export"] = "phase form (codec/model.py phase_form), " \
                                 "python tools/export_decoders.py"
        card["fingerprints"] = fingerprints(folder)
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        print(f"{folder}: decoder.tflite re-exported in phase form")


if __name__ == "__main__":
    main(sys.argv[1:])
