"""Shared fixtures: the repository's examples, deal variants and a mini clause library."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from minilib import write_library

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
NORTHWIND = EXAMPLES / "northwind-bpo.json"
BAJIO = EXAMPLES / "bajio-nomina.json"


def load_example(name: str = "northwind-bpo.json") -> dict[str, Any]:
    """Return a fresh copy of an example deal sheet."""
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return copy.deepcopy(data)


@pytest.fixture(scope="session", autouse=True)
def _own_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the suite's caches (templates, library, rules) out of the user's cache folder."""
    from contractgen.cache import cache_dir

    before = os.environ.get("CONTRACTGEN_CACHE_DIR")
    os.environ["CONTRACTGEN_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    cache_dir.cache_clear()
    yield
    if before is None:
        del os.environ["CONTRACTGEN_CACHE_DIR"]
    else:
        os.environ["CONTRACTGEN_CACHE_DIR"] = before
    cache_dir.cache_clear()


@pytest.fixture
def northwind() -> dict[str, Any]:
    return load_example("northwind-bpo.json")


@pytest.fixture
def write_deal(tmp_path: Path) -> Callable[..., Path]:
    """Write a deal (dict) to a JSON file in tmp_path and return its path."""

    def write(data: dict[str, Any], name: str = "deal.json") -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        return path

    return write


@pytest.fixture
def minilib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small clause library with one module of each kind."""
    return write_library(tmp_path_factory.mktemp("minilib"))
