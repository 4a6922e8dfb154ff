"""The Dask recipe by contract: real worker processes on a LocalCluster give the same archive
shards, byte for byte, as the single-process path."""

import os

import numpy as np
import pytest

import codec
from codec.distributed import pack_shards, shard_name


def _dask():
    """dask.distributed; missing, it fails under CI (the test extra installs it), else skips."""
    try:
        import dask.distributed
    except ImportError as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the dask extra is needed in CI: {error}")
        pytest.skip(f"the dask extra is not installed: {error}")
    return dask.distributed


def test_shards_on_a_cluster_equal_the_single_process_path(tmp_path, mnist_test):
    distributed = _dask()
    images, labels = mnist_test[:500], np.arange(500, dtype=np.uint8) % 10
    here = pack_shards(images, tmp_path / "here", shard_size=200, labels=labels)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        there = pack_shards(images, tmp_path / "there", client=client, shard_size=200,
                            labels=labels)
    assert [p.name for p in there] == [shard_name(k) for k in range(3)]
    assert [p.read_bytes() for p in there] == [p.read_bytes() for p in here]
    joined = [codec.open_archive(p) for p in there]
    assert sum(map(len, joined)) == 500
    assert np.array_equal(np.concatenate([a.labels for a in joined]), labels)
    assert joined[2].nic_file(-1) == codec.encode_batch(images[-1:], jobs=1)[0]


def test_shards_are_never_overwritten(tmp_path, mnist_test):
    pack_shards(mnist_test[:3], tmp_path, shard_size=2)
    with pytest.raises(codec.NicError, match="exists"):
        pack_shards(mnist_test[:3], tmp_path, shard_size=2)
