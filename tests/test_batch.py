"""How a batch is cut into the pieces handed to worker processes."""

from __future__ import annotations

import pytest

from contractgen.batch import chunked


@pytest.mark.parametrize("count", [0, 1, 2, 7, 31, 200, 1001])
@pytest.mark.parametrize("workers", [1, 2, 8])
def test_every_job_once_in_order(count: int, workers: int) -> None:
    jobs = list(range(count))
    chunks = chunked(jobs, workers)
    assert [job for chunk in chunks for job in chunk] == jobs
    assert all(1 <= len(chunk) <= 8 for chunk in chunks)


def test_pieces_shrink_towards_the_end() -> None:
    sizes = [len(chunk) for chunk in chunked(list(range(200)), 2)]
    assert sizes[0] == 8  # a few deals per hand-over while there is plenty left
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[-8:] == [1] * 8  # the last ones one by one: no worker waits on a long piece


def test_small_batches_go_one_by_one() -> None:
    assert [len(c) for c in chunked(list(range(7)), 2)] == [1] * 7
