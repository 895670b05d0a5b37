"""A write that fails half-way leaves the output directory exactly as it was.

Faults are injected with monkeypatch where ``contractgen.output`` meets the operating system:
a full disk (ENOSPC from a write or from fsync), permission denied (creating a temporary
file, linking the backup, renaming into place) and an interrupt (KeyboardInterrupt from a
rename, fsync or chmod). After each, the directory holds the same files with the same bytes
as before, and no temporary (``.*.tmp``) or backup (``.*.bak``) file. Tested through
``output.commit`` and through the command line (exit 6 for an OSError, 130 for an interrupt).
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import REPO

from contractgen import output
from contractgen.cli import cli
from contractgen.errors import OutputError

DEAL = REPO / "tests" / "data" / "deals" / "minimal-admin.json"
OLD = {"deal.docx": b"PK old docx \x00\x01", "deal.md": b"# old contract\n"}
NEW = {"deal.docx": b"PK new docx " + b"\xff" * 70_000, "deal.md": b"# new contract\n" * 500}


def _on_call(number: int, error: BaseException, real: Callable[..., Any]) -> Callable[..., Any]:
    """Return a stand-in for ``real`` that raises ``error`` on call ``number`` (1-based)."""
    calls = 0

    def fake(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == number:
            raise error
        return real(*args, **kwargs)

    return fake


class _HalfWritten:
    """A file whose write stores half the data and then finds the disk full."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def __enter__(self) -> _HalfWritten:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.handle.close()

    def write(self, data: bytes) -> int:
        self.handle.write(data[: len(data) // 2])
        self.handle.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)


def _disk_full_on_write(monkeypatch: pytest.MonkeyPatch, number: int) -> None:
    real = os.fdopen
    calls = 0

    def fdopen(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        handle = real(*args, **kwargs)
        return _HalfWritten(handle) if calls == number else handle

    monkeypatch.setattr(os, "fdopen", fdopen)


def _patch(name: str, number: int, error: BaseException) -> Callable[[pytest.MonkeyPatch], None]:
    module_name, attribute = name.split(".")
    module = {"os": os, "tempfile": tempfile}[module_name]

    def install(monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(module, attribute, _on_call(number, error, getattr(module, attribute)))

    return install


ENOSPC = OSError(errno.ENOSPC, "No space left on device")
EACCES = PermissionError(errno.EACCES, "Permission denied")
EPERM = PermissionError(errno.EPERM, "Operation not permitted")
EIO = OSError(errno.EIO, "Input/output error")

FAULTS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "disk full writing the first file": lambda mp: _disk_full_on_write(mp, 1),
    "disk full writing the second file": lambda mp: _disk_full_on_write(mp, 2),
    "disk full on fsync of the second file": _patch("os.fsync", 2, ENOSPC),
    "permission denied creating the second temporary file": _patch("tempfile.mkstemp", 2, EACCES),
    "permission denied renaming the second file": _patch("os.replace", 2, EACCES),
    "I/O error keeping the backup": _patch("os.link", 2, EIO),
    "permission denied setting the mode": _patch("os.chmod", 1, EPERM),
}
INTERRUPTS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "interrupted renaming the second file": _patch("os.replace", 2, KeyboardInterrupt()),
    "interrupted on fsync of the first file": _patch("os.fsync", 1, KeyboardInterrupt()),
    "interrupted setting the mode of the second file": _patch("os.chmod", 2, KeyboardInterrupt()),
    "interrupted linking the backup": _patch("os.link", 1, KeyboardInterrupt()),
}


def _snapshot(directory: Path) -> dict[str, bytes]:
    """Return every entry of ``directory`` (hidden ones too) with its bytes."""
    if not directory.exists():
        return {}
    return {p.name: p.read_bytes() if p.is_file() else b"<dir>" for p in directory.iterdir()}


def _assert_untouched(directory: Path, before: dict[str, bytes]) -> None:
    after = _snapshot(directory)
    leftovers = sorted(n for n in after if n.endswith((".tmp", ".bak")) or n.startswith("."))
    assert not leftovers, f"temporary files left behind: {leftovers}"
    assert sorted(after) == sorted(before), "files appeared or disappeared"
    for name, data in before.items():
        assert after[name] == data, f"{name} changed"


# --- through output.commit -------------------------------------------------------------------

@pytest.mark.parametrize("fault", list(FAULTS))
def test_failed_replacement_keeps_previous_outputs(tmp_path: Path, fault: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    output.commit(tmp_path, OLD, force=False)
    before = _snapshot(tmp_path)
    FAULTS[fault](monkeypatch)
    with pytest.raises(OutputError, match="cannot write the output"):
        output.commit(tmp_path, NEW, force=True)
    monkeypatch.undo()
    _assert_untouched(tmp_path, before)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_failed_first_write_leaves_nothing(tmp_path: Path, fault: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "new" / "deeper"
    FAULTS[fault](monkeypatch)
    try:
        output.commit(target, NEW, force=False)
    except OutputError:
        pass
    else:  # a fault on the second backup link never fires when nothing is replaced
        assert fault == "I/O error keeping the backup"
        return
    finally:
        monkeypatch.undo()
    assert not (tmp_path / "new").exists(), "the directories it created were left behind"


@pytest.mark.parametrize("fault", list(INTERRUPTS))
def test_interrupted_replacement_keeps_previous_outputs(tmp_path: Path, fault: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    output.commit(tmp_path, OLD, force=False)
    before = _snapshot(tmp_path)
    INTERRUPTS[fault](monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        output.commit(tmp_path, NEW, force=True)
    monkeypatch.undo()
    _assert_untouched(tmp_path, before)


def test_unfaulted_replacement_writes_new_bytes(tmp_path: Path) -> None:
    """The control: the same commit without a fault replaces both files."""
    output.commit(tmp_path, OLD, force=False)
    output.commit(tmp_path, NEW, force=True)
    assert _snapshot(tmp_path) == NEW


# --- through the command line ----------------------------------------------------------------

def _render(out: Path, *extra: str) -> Result:
    return CliRunner().invoke(cli, ["render", str(DEAL), "-o", str(out), *extra], obj={})


@pytest.fixture
def rendered(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    out = tmp_path / "out"
    first = _render(out)
    assert first.exit_code == 0, first.output
    before = _snapshot(out)
    assert sorted(before) == ["minimal-admin.docx", "minimal-admin.md"]
    return out, before


CLI_FAULTS = ["disk full writing the second file", "disk full on fsync of the second file",
              "permission denied renaming the second file",
              "permission denied creating the second temporary file"]


@pytest.mark.parametrize("fault", CLI_FAULTS)
def test_cli_render_failure_exits_6_and_keeps_outputs(
        rendered: tuple[Path, dict[str, bytes]], fault: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    out, before = rendered
    # Make the outputs differ from the ones on disk, so a partial write would show.
    (out / "minimal-admin.md").write_bytes(b"lawyer's edits\n")
    before = _snapshot(out)
    FAULTS[fault](monkeypatch)
    result = _render(out, "--force")
    monkeypatch.undo()
    assert result.exit_code == 6, result.output
    assert result.stderr.startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    assert str(out) in result.stderr
    _assert_untouched(out, before)


def test_cli_render_interrupted_exits_130_and_keeps_outputs(
        rendered: tuple[Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch) -> None:
    out, before = rendered
    INTERRUPTS["interrupted renaming the second file"](monkeypatch)
    result = _render(out, "--force")
    monkeypatch.undo()
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.stderr
    assert "Traceback" not in result.output
    _assert_untouched(out, before)


def test_cli_first_render_failure_leaves_no_directory(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    FAULTS["disk full on fsync of the second file"](monkeypatch)
    result = _render(out)
    monkeypatch.undo()
    assert result.exit_code == 6, result.output
    assert "No space left on device" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("dangling", [False, True], ids=["symlink", "dangling symlink"])
def test_failed_replacement_restores_a_symlink_it_replaced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dangling: bool) -> None:
    """--force replaces a symlink (never writing through it); a failure puts it back."""
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    if not dangling:
        victim.write_bytes(b"keep me")
    (out / "deal.docx").symlink_to(victim)
    (out / "deal.md").write_bytes(OLD["deal.md"])
    FAULTS["permission denied renaming the second file"](monkeypatch)
    with pytest.raises(OutputError):
        output.commit(out, NEW, force=True)
    monkeypatch.undo()
    assert (out / "deal.docx").is_symlink(), "the symlink was not restored"
    assert os.readlink(out / "deal.docx") == str(victim)
    assert sorted(p.name for p in out.iterdir()) == ["deal.docx", "deal.md"]
    assert (out / "deal.md").read_bytes() == OLD["deal.md"]
    assert dangling or victim.read_bytes() == b"keep me"


def test_force_works_without_hard_links(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """On a file system without hard links, replaced files are kept by copying them."""
    import errno

    from contractgen.output import commit

    target = tmp_path / "deal.md"
    target.write_text("old", encoding="utf-8")
    link = tmp_path / "deal.docx"
    link.symlink_to(tmp_path / "elsewhere")

    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    commit(tmp_path, {"deal.md": b"new", "deal.docx": b"doc"}, force=True)
    assert target.read_bytes() == b"new"
    assert not link.is_symlink() and link.read_bytes() == b"doc"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deal.docx", "deal.md"]

    real_replace = os.replace
    calls = []

    def fail_second(src: object, dst: object) -> None:
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", fail_second)
    with pytest.raises(Exception, match="No space left"):
        commit(tmp_path, {"deal.md": b"newer", "deal.docx": b"doc2"}, force=True)
    monkeypatch.setattr(os, "replace", real_replace)
    assert target.read_bytes() == b"new"
    assert link.read_bytes() == b"doc"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deal.docx", "deal.md"]
