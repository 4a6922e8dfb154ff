"""`nic train`: every model nic ships is made here, and its card written from what was measured.

One module per kind of model, each importing TensorFlow (only training and export pay for it):

* `common.py`: what they share: data splits and batches, the LiteRT export, fingerprints;
* `cvae.py`: the compression CVAEs (and the denoise / sr2x ones), their entropy tables, residual
  tables, fidelity settings and card;
* `decoder.py`: a compression model's decoder trained further on quantised latents, in int8
  (`--decoder-only`);
* `classifier.py`: the readers of the fidelity check (`--task classify`);
* `filter.py`: the denoising filter and the VP8 post-filter (`--task denoise`/`vp8`, colour).
"""

from .classifier import train_classifier
from .common import WEIGHT_FILES
from .cvae import DEFAULT_MULTIPLIERS, calibrate_fidelity, refit_residual, retable, train
from .decoder import tune_decoder
from .filter import train_denoiser, train_vp8_filter

__all__ = ["train", "retable", "refit_residual", "calibrate_fidelity", "DEFAULT_MULTIPLIERS",
           "WEIGHT_FILES", "train_classifier", "tune_decoder", "train_denoiser", "train_vp8_filter"]
