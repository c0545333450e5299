"""The shared stack (tests/ops/faults/stack.py): real servers for the client tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ops.faults import stack as stack_module
from tests.ops.faults.stack import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield stack_module.acquire(tmp_path_factory.mktemp("ops-stack"))
    stack_module.release()
