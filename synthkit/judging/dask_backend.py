"""Running the grading on a Dask cluster through joblib's Dask backend (`judge.backend=dask`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from synthkit.errors import SynthkitError


@contextlib.contextmanager
def dask_client(address: str | None) -> Iterator[Any]:
    """A client of the cluster at `address`, or of a local cluster started for the run."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise SynthkitError("judge.backend=dask needs dask[distributed]: "
                            "pip install 'synthkit[dask]'") from None
    if address:
        try:
            client = Client(address, timeout="10s")
        except Exception as exc:  # unreachable, malformed address, wrong protocol, ...
            raise SynthkitError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client
