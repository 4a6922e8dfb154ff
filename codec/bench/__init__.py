"""`nic bench`: nic measured against the classical codecs on the same images, one module a task.

    codecs.py    the codecs compared (nic, its latents, JPEG, WebP, AVIF, JPEG XL, PNG)
    rd.py        rate against distortion: sweeps, BD-rates, equal-PSNR ratios, plots (--task rd)
    lossless.py  exact coding on grey sets unlike MNIST and MNIST's speed (--task lossless)
    archive.py   a whole dataset as one archive against files on disk (--task archive)
    restore.py   denoising and 2x super-resolution against filters (--task denoise, sr2x)
"""

from .archive import print_archive_report, run_archive_bench
from .codecs import CODECS, Codec, PillowCodec
from .lossless import print_lossless_report, run_lossless_bench
from .rd import FIELDS, measure, plot, plot_samples, print_report, run_bench, summarize
from .restore import print_restore_report, run_restore_bench

__all__ = [
    "CODECS", "Codec", "PillowCodec", "FIELDS", "run_bench", "measure", "summarize", "plot",
    "plot_samples", "print_report", "run_lossless_bench", "print_lossless_report",
    "run_archive_bench", "print_archive_report", "run_restore_bench", "print_restore_report",
]
