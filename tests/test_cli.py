"""The command line: every exit code, clean messages, no tracebacks for user errors."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import BAJIO, NORTHWIND

from contractgen.cli import cli


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], obj={})


def assert_clean_failure(result: Result, code: int) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("Error: ") or code in (3, 4)


# --- exit 0 ------------------------------------------------------------------------------

def test_validate_accepts_both_examples() -> None:
    result = run("validate", NORTHWIND, BAJIO)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "2 deal sheet(s) valid" in result.stderr


def test_render_writes_markdown(tmp_path: Path, minilib: Path) -> None:
    result = run("--library", minilib, "render", NORTHWIND, "-o", tmp_path, "--format", "md")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "northwind-bpo.md")
    text = (tmp_path / "northwind-bpo.md").read_text(encoding="utf-8")
    assert text.startswith("# Business Process Outsourcing Services Agreement")


def test_schema_prints_the_schema() -> None:
    result = run("schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["$schema"].endswith("2020-12/schema")


def test_init_writes_a_valid_starter_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "new.json"
    assert run("init", target).exit_code == 0
    assert run("validate", target).exit_code == 0
    target.write_text("{}", encoding="utf-8")
    result = run("init", target)
    assert_clean_failure(result, 6)
    assert target.read_text(encoding="utf-8") == "{}"


def test_explain_json_lists_every_module(minilib: Path) -> None:
    result = run("--library", minilib, "explain", NORTHWIND, "--format", "json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)["clauses"]
    assert {r["id"] for r in rows} == {"definitions", "step_in", "step_in_regulated",
                                       "charges_schedule", "offshore_section"}
    assert set(rows[0]) == {"id", "title", "area", "included", "reason"}
    step_in = next(r for r in rows if r["id"] == "step_in")
    assert step_in["included"] is False and "replaces it" in step_in["reason"]


def test_explain_text_is_a_table(minilib: Path) -> None:
    result = run("--library", minilib, "explain", NORTHWIND)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["IN", "CLAUSE", "AREA", "WHY"]
    assert any(line.startswith("no  step_in ") for line in lines)


def test_clauses_list_and_show(minilib: Path) -> None:
    listed = run("--library", minilib, "clauses", "list")
    assert listed.exit_code == 0
    assert "step_in_regulated" in listed.stdout
    shown = run("--library", minilib, "clauses", "show", "step_in")
    assert shown.exit_code == 0
    assert "include:  'step_in' in performance.remedies" in shown.stdout
    assert "The Client may step in" in shown.stdout
    assert_clean_failure(run("--library", minilib, "clauses", "show", "nope"), 5)


# --- exit 1 ------------------------------------------------------------------------------

def test_internal_error_is_short_and_traceback_only_with_debug(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr("contractgen.pipeline.render_to_directory", boom)
    result = run("render", NORTHWIND, "-o", tmp_path)
    assert result.exit_code == 1
    assert "internal error: RuntimeError: simulated bug" in result.stderr
    assert "Traceback" not in result.output
    debug = run("--debug", "render", NORTHWIND, "-o", tmp_path)
    assert debug.exit_code == 1
    assert "Traceback" in debug.stderr


# --- exit 2 ------------------------------------------------------------------------------

def test_usage_error_exits_2() -> None:
    result = run("render", NORTHWIND)
    assert result.exit_code == 2
    assert "Missing option '-o'" in result.stderr


# --- exit 3 ------------------------------------------------------------------------------

@pytest.mark.parametrize("content, message", [
    (None, "cannot read"),
    (b'{"a": 1,}', "not valid JSON"),
    (b"\xff\xfe{}", "UTF-8"),
    (b'{"a": 1, "a": 2}', "duplicate"),
    (b'{"a": NaN}', "NaN"),
])
def test_unreadable_input_exits_3(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "deal.json"
    if content is not None:
        path.write_bytes(content)
    for command in (["validate", path], ["render", path, "-o", tmp_path / "out"]):
        result = run(*command)
        assert result.exit_code == 3, result.output
        assert "Traceback" not in result.output
        assert str(path) in result.output
        assert message.lower() in result.output.lower()
    assert not (tmp_path / "out").exists()


# --- exit 4 ------------------------------------------------------------------------------

def test_invalid_deal_lists_every_problem(write_deal: Callable[..., Path],
                                          northwind: dict[str, Any]) -> None:
    northwind["agreement"]["initial_term_months"] = 0
    northwind["scope"]["locations"][0]["delivery_model"] = "ofshore"
    northwind["performance"]["service_levels"][0]["function"] = "nowhere"
    del northwind["agreement"]["reference"]
    path = write_deal(northwind)
    result = run("validate", path)
    assert result.exit_code == 4
    lines = result.stdout.splitlines()
    paths = [line.split(": ")[1] for line in lines]
    assert "$.agreement.initial_term_months" in paths
    assert "$.scope.locations[0].delivery_model" in paths
    assert "$.performance.service_levels[0].function" in paths
    assert "$.agreement" in paths
    assert all(line.startswith(f"{path}: $") for line in lines)


def test_validate_json_format(write_deal: Callable[..., Path], northwind: dict[str, Any]) -> None:
    northwind["agreement"]["currency"] = "dollars"
    path = write_deal(northwind)
    result = run("validate", "--format", "json", path, NORTHWIND)
    assert result.exit_code == 4
    problems = json.loads(result.stdout)
    assert problems == [{"file": str(path), "path": "$.agreement.currency",
                         "message": problems[0]["message"]}]
    assert "dollars" in problems[0]["message"]


def test_render_of_invalid_deal_writes_nothing(tmp_path: Path, write_deal: Callable[..., Path],
                                               northwind: dict[str, Any]) -> None:
    northwind["language"] = "fr"
    result = run("render", write_deal(northwind), "-o", tmp_path / "out")
    assert result.exit_code == 4
    assert "$.language" in result.stderr
    assert not (tmp_path / "out").exists()


# --- exit 5 ------------------------------------------------------------------------------

def test_library_error_exits_5(tmp_path: Path, minilib: Path) -> None:
    broken = minilib / "clauses" / "performance" / "step_in_regulated.en.md.j2"
    original = broken.read_text(encoding="utf-8")
    broken.write_text("{{ performance.nope }}\n", encoding="utf-8")
    try:
        result = run("--library", minilib, "render", NORTHWIND, "-o", tmp_path / "out",
                     "--lang", "en")
    finally:
        broken.write_text(original, encoding="utf-8")
    assert_clean_failure(result, 5)
    assert "step_in_regulated.en.md.j2:1" in result.stderr
    assert not (tmp_path / "out").exists()


def test_missing_library_exits_5(tmp_path: Path) -> None:
    assert_clean_failure(run("--library", tmp_path, "explain", NORTHWIND), 5)


# --- exit 6 ------------------------------------------------------------------------------

def test_existing_output_is_refused_without_force(tmp_path: Path, minilib: Path) -> None:
    target = tmp_path / "northwind-bpo.md"
    target.write_text("lawyer's edits", encoding="utf-8")
    result = run("--library", minilib, "render", NORTHWIND, "-o", tmp_path, "--format", "md")
    assert_clean_failure(result, 6)
    assert "--force" in result.stderr
    assert target.read_text(encoding="utf-8") == "lawyer's edits"
    forced = run("--library", minilib, "render", NORTHWIND, "-o", tmp_path, "--format", "md",
                 "--force")
    assert forced.exit_code == 0
    assert target.read_text(encoding="utf-8").startswith("# Business")


def test_symlink_in_the_way_is_replaced_not_followed(tmp_path: Path, minilib: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "northwind-bpo.md").symlink_to(victim)
    refused = run("--library", minilib, "render", NORTHWIND, "-o", out, "--format", "md")
    assert_clean_failure(refused, 6)
    forced = run("--library", minilib, "render", NORTHWIND, "-o", out, "--format", "md",
                 "--force")
    assert forced.exit_code == 0
    assert victim.read_text(encoding="utf-8") == "keep me"
    assert not (out / "northwind-bpo.md").is_symlink()


def test_output_directory_that_is_a_file_exits_6(tmp_path: Path, minilib: Path) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("", encoding="utf-8")
    result = run("--library", minilib, "render", NORTHWIND, "-o", blocker, "--format", "md")
    assert_clean_failure(result, 6)


def test_unwritable_directory_exits_6(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                     minilib: Path) -> None:
    import errno
    import tempfile

    def denied(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    result = run("--library", minilib, "render", NORTHWIND, "-o", tmp_path, "--format", "md")
    assert_clean_failure(result, 6)
    assert "Permission denied" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_disk_full_exits_6_and_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              minilib: Path) -> None:
    import errno

    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    result = run("--library", minilib, "render", NORTHWIND, "-o", tmp_path, "--format", "md")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert_clean_failure(result, 6)
    assert "No space left on device" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_readme_field_reference_is_in_sync() -> None:
    from conftest import REPO

    from contractgen.dealsheet import load_schema
    from contractgen.fieldref import field_reference_markdown, splice

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    expected = splice(readme, field_reference_markdown(load_schema()))
    assert readme == expected, "run: python -m contractgen.fieldref README.md"


def test_readme_quick_start_has_exactly_two_commands() -> None:
    from conftest import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Quick start", 1)[1].split("```", 2)[1]
    commands = [line for line in block.splitlines()[1:] if line.strip()]
    assert len(commands) == 2
    assert "contractgen render examples/northwind-bpo.json -o out/" in commands[0]
    assert "pytest" in commands[1]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_batch_renders_the_good_and_reports_the_bad(tmp_path: Path, minilib: Path,
                                                    write_deal: Callable[..., Path],
                                                    northwind: dict[str, Any], jobs: str) -> None:
    good = write_deal(northwind, "good.json")
    bad = write_deal({"deal_sheet_version": "1.0"}, "bad.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    out = tmp_path / "out"
    result = run("--library", minilib, "render", good, bad, broken, NORTHWIND, "-o", out,
                 "--format", "md", "--jobs", jobs)
    assert result.exit_code == 4, result.output
    assert sorted(p.name for p in out.iterdir()) == ["good.md", "northwind-bpo.md"]
    assert "rendered 2 of 4 deal sheets; 2 failed:" in result.stderr
    assert f"{bad} (exit 4):" in result.stderr and f"{broken} (exit 3):" in result.stderr
    assert "[4/4]" in result.stderr
    assert "Traceback" not in result.output


def test_batch_refuses_two_deals_with_one_stem(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    copy = tmp_path / "a" / "northwind-bpo.json"
    copy.write_bytes(NORTHWIND.read_bytes())
    result = run("render", NORTHWIND, copy, "-o", tmp_path / "out")
    assert_clean_failure(result, 6)
    assert not (tmp_path / "out").exists()


def test_lint_is_clean_on_the_bundled_library() -> None:
    result = run("lint")
    assert result.exit_code == 0, result.stdout
    assert result.stdout == ""
    assert "0 finding(s)" in result.stderr


def test_lint_reports_file_line_message_and_exits_5(tmp_path: Path) -> None:
    from minilib import write_library

    root = write_library(tmp_path, {
        "performance/step_in.en.md.j2": "1. Fine.\n1. Uses {{ scope.nonexistent_field }}.\n"})
    result = run("--library", root, "lint")
    assert result.exit_code == 5
    assert "clauses/performance/step_in.en.md.j2:2: " in result.stdout
    assert "scope.nonexistent_field" in result.stdout


def test_lint_coverage_prints_a_table(minilib: Path) -> None:
    result = run("--library", minilib, "lint", "--coverage")
    assert result.exit_code == 0
    assert "step_in_regulated" in result.stdout
    assert "generated deals" in result.stdout


def test_lang_overrides_the_deal_language(tmp_path: Path) -> None:
    result = run("render", NORTHWIND, "-o", tmp_path, "--format", "md", "--lang", "es")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "northwind-bpo.md").read_text(encoding="utf-8")
    assert "## 1. Definiciones e Interpretación" in text
    assert "4 de enero de 2027" in text


def test_python_dash_m_runs_the_cli() -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "contractgen", "validate", str(NORTHWIND)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "1 deal sheet(s) valid" in result.stderr
