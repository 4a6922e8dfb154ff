"""Past one machine: pack a large image set into archive shards on a Dask cluster.

    from dask.distributed import Client
    from codec.distributed import pack_shards
    client = Client("tcp://scheduler:8786")              # or LocalCluster() for one machine
    paths = pack_shards(image_paths, "shards/", client=client, shard_size=100_000, labels=y)

Each shard is coded by one Dask task running nic's own batch code (`encode_detailed`, one
process per task: the cluster is the parallelism), and comes back to the client as archive
bytes, which the client writes as shards/shard-00000.nicpack, ... So the output needs no
storage shared with the workers; inputs given as paths must be readable by the workers under
the same names (arrays travel with the task). The shards are byte for byte what
`pack_shards(..., client=None)` writes in this process. Needs the dask extra
(pip install ".[dask]" in nic's project folder).
"""

from collections.abc import Sequence
from pathlib import Path

from .errors import NicError

__all__ = ["pack_shards", "shard_name"]

DEFAULT_SHARD = 100_000  # images per archive: about 1.2 MB at the default level


def shard_name(index: int) -> str:
    """The file name of shard `index`: shard-00000.nicpack, ..."""
    return f"shard-{index:05d}.nicpack"


def pack_shards(sources: Sequence, out_dir, *, client=None, shard_size: int = DEFAULT_SHARD,
                labels=None, force: bool = False, **options) -> list[Path]:
    """Encode sources (image paths or arrays, as encode_batch takes them) into one archive per
    shard_size images, each shard a Dask task.

    Args:
        sources: the images, in order; a uint8 array (N, H, W) works as N images.
        out_dir: the folder for the shards (created when missing).
        client: a dask.distributed Client; None runs every shard in this process.
        shard_size: images per shard.
        labels: one label per image (kept in its shard), or None.
        force: replace existing shard files.
        **options: encode's model, quality, max_error, lossless, strict.
    Returns:
        The shard paths, in order. Raises the first shard's NicError if a shard fails.
    """
    from .files import check_writable, write_atomic

    if shard_size < 1:
        raise NicError(f"shard_size must be at least 1, got {shard_size}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    starts = range(0, len(sources), shard_size)
    paths = [out_dir / shard_name(k) for k in range(len(starts))]
    for path in paths:  # refuse before any work, as everywhere in nic
        check_writable(path, force=force)
    parts = [(sources[s : s + shard_size], None if labels is None else labels[s : s + shard_size])
             for s in starts]
    for path, data in zip(paths, _run(parts, client, options)):
        write_atomic(path, data, force=force)
    return paths


def _run(parts: list, client, options: dict) -> list[bytes]:
    """Each part's archive bytes: Dask tasks on the client's cluster, or here."""
    if client is None:
        return [pack_shard(images, labels, options) for images, labels in parts]
    futures = [client.submit(pack_shard, images, labels, options, pure=False)
               for images, labels in parts]
    return client.gather(futures)


def pack_shard(images, labels, options: dict) -> bytes:
    """One shard's archive bytes, coded in the calling process (a Dask worker or this one)."""
    from .api import encode_detailed
    from .archive import pack_archive

    # jobs=1: on a cluster, each worker process is one of the parallel units already.
    results = encode_detailed(list(images), jobs=1, **options)
    return pack_archive([r.data for r in results], labels)
