"""``contractgen render --watch``: one deal sheet rendered again after each save."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import NORTHWIND

from contractgen import watch as watching
from contractgen.cli import cli
from contractgen.errors import OutputError


def _saver(path: Path, saves: list[Callable[[], None] | None]) -> Callable[[], None]:
    """A ``wait`` that makes the next save (each with a later modification time, as an
    editor's save has; None: no save this time), then, when none is left, presses Ctrl-C."""
    moments = iter(range(1, len(saves) + 1))

    def wait() -> None:
        if not saves:
            raise KeyboardInterrupt
        save = saves.pop(0)
        moment = next(moments)
        if save is None:
            return
        save()
        os.utime(path, ns=(moment * 10**9, moment * 10**9))

    return wait


def _edit(path: Path, change: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
    def save() -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        change(data)
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    return save


def _title(title: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["agreement"]["title"] = title

    return change


def test_a_watch_renders_after_each_save_and_reports_a_bad_one(tmp_path: Path) -> None:
    deal = tmp_path / "deal.json"
    deal.write_bytes(NORTHWIND.read_bytes())
    out = tmp_path / "out"
    lines: list[str] = []
    saves: list[Callable[[], None] | None] = [
        _edit(deal, _title("Harbour Services Agreement")),
        None,  # no save: nothing to do
        lambda: deal.write_text('{"agreement": ', encoding="utf-8"),  # half-written
        lambda: deal.write_bytes(NORTHWIND.read_bytes()),  # saved whole
        _edit(deal, _title("Lighthouse Services Agreement")),
    ]
    watching.watch(deal, out, ("md",), None, False, None, lines.append,
                   _saver(deal, saves))
    rendered = [line for line in lines if " rendered " in line]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(rendered) == 4  # the first render, then three saves that parse
    assert len(errors) == 1 and "not valid JSON" in errors[0]
    assert lines[0] == f"watching {deal} (Ctrl-C to stop)" and lines[-1] == "stopped watching"
    text = (out / "deal.md").read_text(encoding="utf-8")
    assert "Lighthouse Services Agreement" in text and "Harbour" not in text


def test_a_watch_keeps_the_outputs_of_its_last_good_render(tmp_path: Path) -> None:
    deal = tmp_path / "deal.json"
    deal.write_bytes(NORTHWIND.read_bytes())
    out = tmp_path / "out"
    lines: list[str] = []

    def break_it() -> None:
        deal.write_text("[]", encoding="utf-8")

    watching.watch(deal, out, ("md", "docx"), None, False, None, lines.append,
                   _saver(deal, [break_it]))
    first = (out / "deal.md").read_bytes()
    assert first and (out / "deal.docx").exists()
    assert sum(line.startswith("Error: ") for line in lines) == 1
    assert sorted(p.name for p in out.iterdir()) == ["deal.docx", "deal.md"]


def test_a_watch_does_not_replace_existing_outputs_without_force(tmp_path: Path) -> None:
    deal = tmp_path / "deal.json"
    deal.write_bytes(NORTHWIND.read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    (out / "deal.md").write_text("the lawyer's own edits", encoding="utf-8")
    with pytest.raises(OutputError):
        watching.watch(deal, out, ("md",), None, False, None, lambda line: None,
                       _saver(deal, []))
    assert (out / "deal.md").read_text(encoding="utf-8") == "the lawyer's own edits"
    lines: list[str] = []
    watching.watch(deal, out, ("md",), None, True, None, lines.append, _saver(deal, []))
    assert any(" rendered " in line for line in lines)


def test_the_command_line_watch_stops_on_ctrl_c_with_exit_0(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(watching.time, "sleep", interrupt)
    result = CliRunner().invoke(cli, ["render", str(NORTHWIND), "-o", str(tmp_path),
                                      "--format", "md", "--watch"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "northwind-bpo.md").exists()
    assert "rendered" in result.output and "stopped watching" in result.output


def test_the_command_line_watch_takes_one_deal_sheet(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["render", str(NORTHWIND), str(NORTHWIND), "-o",
                                      str(tmp_path), "--watch"])
    assert result.exit_code == 2
    assert "--watch takes one deal sheet" in result.output
    assert not list(tmp_path.iterdir())
