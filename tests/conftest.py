"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch as th


@pytest.fixture(scope="module")
def single_torch_thread() -> Iterator[None]:
    """One torch intra-op thread for a module's tests, restored afterwards.

    Small networks on a shared 2-core machine: intra-op threads only add contention. Opt in with
    ``pytestmark = pytest.mark.usefixtures("single_torch_thread")``.
    """
    threads = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(threads)
