"""The command line: a thin layer over the pipeline.

Exit codes: 0 success; 1 internal error (a bug); 2 usage error; 3 unreadable input;
4 invalid deal sheet; 5 clause-library, rule or template error; 6 output refused or failed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from contractgen import __version__, collector
from contractgen.errors import ContractgenError, InputError, InvalidDealError, OutputError

EXIT_INTERNAL = 1


class _Group(click.Group):
    """Turn contractgen errors into a message and an exit code; bugs into exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except ContractgenError as error:
            _fail(str(error), error.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as error:  # a bug: say so briefly; the traceback only with --debug
            if ctx.obj and ctx.obj.get("debug"):
                import traceback

                traceback.print_exc()
            _fail(f"internal error: {type(error).__name__}: {error} "
                  "(run with --debug for the traceback, and please report it)", EXIT_INTERNAL)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _root(ctx: click.Context) -> Path | None:
    root: Path | None = ctx.obj.get("library")
    return root


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="contractgen")
@click.option("--debug", is_flag=True, help="Show the traceback of internal errors.")
@click.option("--library", type=click.Path(file_okay=False, path_type=Path),
              help="Use the clause library in DIR (laid out like the repository).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, library: Path | None) -> None:
    """Turn a BPO deal sheet (JSON) into a draft services agreement (Word and Markdown)."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["library"] = library


# --- validate -----------------------------------------------------------------------------

def _problems_of(path: Path, root: Path | None) -> tuple[int, list[dict[str, str]]]:
    from contractgen.dealsheet import load_deal

    try:
        load_deal(path, root=root)
    except InvalidDealError as error:
        return error.exit_code, [p.as_dict() for p in error.problems]
    except InputError as error:
        message = str(error)
        prefix = f"{path}: "
        if message.startswith(prefix):
            message = message[len(prefix):]
        return error.exit_code, [{"file": str(path), "path": "$", "message": message}]
    return 0, []


@cli.command()
@click.argument("deals", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Print problems as lines or as a JSON list.")
@click.pass_context
def validate(ctx: click.Context, deals: tuple[Path, ...], fmt: str) -> None:
    """Check deal sheets; list every problem in every file."""
    worst = 0
    found: list[dict[str, str]] = []
    for path in deals:
        code, problems = _problems_of(path, _root(ctx))
        worst = max(worst, code)
        found.extend(problems)
        collector.step()
    if fmt == "json":
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
    else:
        for problem in found:
            click.echo(f"{problem['file']}: {problem['path']}: {problem['message']}")
        if not found:
            click.echo(f"{len(deals)} deal sheet(s) valid", err=True)
    sys.exit(worst)


# --- schema and init ------------------------------------------------------------------------

@cli.command()
@click.pass_context
def schema(ctx: click.Context) -> None:
    """Print the deal-sheet JSON Schema."""
    from contractgen.dealsheet import load_schema

    click.echo(json.dumps(load_schema(_root(ctx)), ensure_ascii=False, indent=2))


@cli.command()
@click.argument("path", required=False, default="deal.json",
                type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def init(ctx: click.Context, path: Path) -> None:
    """Write a starter deal sheet (the English example) to PATH; never overwrite."""
    from contractgen.output import commit
    from contractgen.paths import library_root

    example = library_root(_root(ctx)) / "examples" / "northwind-bpo.json"
    try:
        data = example.read_bytes()
    except OSError as error:
        raise OutputError(f"{example}: cannot read the starter deal sheet") from error
    commit(path.parent if str(path.parent) else Path("."), {path.name: data}, force=False)
    click.echo(f"wrote {path}; edit it, then run: contractgen validate {path}", err=True)


# --- render ----------------------------------------------------------------------------------

@cli.command()
@click.argument("deals", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True,
              type=click.Path(path_type=Path), help="Directory for the outputs.")
@click.option("--format", "formats", type=click.Choice(["docx", "md"]), multiple=True,
              help="Output format (repeatable). Default: docx and md.")
@click.option("--lang", type=click.Choice(["en", "es"]),
              help="Draft in this language instead of the deal sheet's.")
@click.option("--force", is_flag=True, help="Replace existing outputs.")
@click.option("--jobs", "-j", type=click.IntRange(min=1),
              help="Parallel processes for several deal sheets. Default: the number of CPUs.")
@click.option("--watch", is_flag=True,
              help="Render one deal sheet again each time it is saved, until Ctrl-C.")
@click.pass_context
def render(ctx: click.Context, deals: tuple[Path, ...], out_dir: Path,
           formats: tuple[str, ...], lang: str | None, force: bool, jobs: int | None,
           watch: bool) -> None:
    """Render deal sheets into DIR/<deal stem>.docx and .md."""
    from contractgen.pipeline import FORMATS

    chosen = tuple(dict.fromkeys(formats)) or FORMATS
    if watch:
        if len(deals) != 1:
            raise click.UsageError("--watch takes one deal sheet")
        from contractgen.watch import watch as watch_deal

        watch_deal(deals[0], out_dir, chosen, lang, force, _root(ctx),
                   lambda line: click.echo(line, err=True))
        return
    stems = [p.stem for p in deals]
    clash = sorted({s for s in stems if stems.count(s) > 1})
    if clash:
        raise OutputError(f"several deal sheets are named {', '.join(clash)}; their outputs "
                          "would overwrite each other")
    if len(deals) == 1:
        from contractgen.pipeline import render_to_directory, save_caches

        for target in render_to_directory(deals[0], out_dir, chosen, lang, force, _root(ctx)):
            click.echo(str(target))
        save_caches()
        return
    from contractgen.batch import Job, default_jobs, render_many

    tasks = [Job(p, out_dir, chosen, lang, force, _root(ctx)) for p in deals]
    outcomes = _render_batch(tasks, jobs or default_jobs(), render_many)
    failed = [o for o in outcomes if o.exit_code]
    click.echo(f"rendered {len(outcomes) - len(failed)} of {len(outcomes)} deal sheets"
               + (f"; {len(failed)} failed:" if failed else ""), err=True)
    for outcome in sorted(failed, key=lambda o: str(o.deal)):
        click.echo(f"  {outcome.deal} (exit {outcome.exit_code}):", err=True)
        for line in outcome.error.splitlines():
            click.echo(f"    {line}", err=True)
    sys.exit(max((o.exit_code for o in outcomes), default=0))


def _render_batch(tasks: list[Any], workers: int, render_many: Any) -> list[Any]:
    """Run a batch, showing a progress bar on a terminal and plain lines otherwise."""
    outcomes = []
    if sys.stderr.isatty():
        with click.progressbar(length=len(tasks), label="rendering", file=sys.stderr) as bar:
            for outcome in render_many(tasks, workers):
                outcomes.append(outcome)
                bar.update(1)
    else:
        for index, outcome in enumerate(render_many(tasks, workers), start=1):
            outcomes.append(outcome)
            status = "ok" if not outcome.exit_code else f"failed (exit {outcome.exit_code})"
            click.echo(f"[{index}/{len(tasks)}] {outcome.deal}: {status}", err=True)
    for outcome in outcomes:
        for target in outcome.written:
            click.echo(str(target))
    return outcomes


# --- explain ---------------------------------------------------------------------------------

@cli.command()
@click.argument("deal", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--lang", type=click.Choice(["en", "es"]), help="Titles in this language.")
@click.pass_context
def explain(ctx: click.Context, deal: Path, fmt: str, lang: str | None) -> None:
    """Show every clause module, whether the deal includes it, and why."""
    from contractgen.pipeline import choose

    loaded, _, selection = choose(deal, _root(ctx))
    language = lang or loaded.data["language"]
    rows: list[dict[str, Any]] = [
        {"id": d.module.id, "title": d.module.titles.get(language, d.module.id),
         "area": d.module.area, "included": d.included, "reason": d.reason}
        for d in selection.decisions
    ]
    if fmt == "json":
        click.echo(json.dumps({"clauses": rows}, ensure_ascii=False, indent=2))
        return
    width = max(len(r["id"]) for r in rows)
    area_width = max(len(r["area"]) for r in rows)
    click.echo(f"{'IN':3} {'CLAUSE':{width}}  {'AREA':{area_width}}  WHY")
    for r in rows:
        mark = "yes" if r["included"] else "no"
        click.echo(f"{mark:3} {r['id']:{width}}  {r['area']:{area_width}}  {r['reason']}")
    count = sum(r["included"] for r in rows)
    click.echo(f"\n{count} of {len(rows)} clause modules included", err=True)


# --- lint ------------------------------------------------------------------------------------

@cli.command()
@click.option("--coverage", "show_coverage", is_flag=True,
              help="Instead of linting, show which modules generated deal sheets render.")
@click.pass_context
def lint(ctx: click.Context, show_coverage: bool) -> None:
    """Check the clause library; exit 5 when there are findings."""
    from contractgen.dealsheet import load_schema
    from contractgen.library import load_library
    from contractgen.lint import coverage, format_coverage
    from contractgen.lint import lint as run_lint
    from contractgen.paths import library_root

    library = load_library(library_root(_root(ctx)).resolve())
    schema = load_schema(library.root)
    if show_coverage:
        click.echo(format_coverage(coverage(library, schema)))
        return
    findings = run_lint(library, schema)
    for finding in findings:
        click.echo(str(finding))
    click.echo(f"{len(findings)} finding(s) in {library.root}", err=True)
    sys.exit(5 if findings else 0)


# --- clauses ---------------------------------------------------------------------------------

@cli.group()
def clauses() -> None:
    """Browse the clause library."""


@clauses.command("list")
@click.option("--lang", type=click.Choice(["en", "es"]), default="en", show_default=True)
@click.pass_context
def clauses_list(ctx: click.Context, lang: str) -> None:
    """List the clause modules in document order."""
    from contractgen.pipeline import open_library

    library = open_library(_root(ctx))
    width = max(len(m.id) for m in library.modules)
    for module in library.modules:
        title = module.titles.get(lang, "")
        click.echo(f"{module.order:5} {module.id:{width}}  {module.kind:8} {module.area:13} "
                   f"{title}")


@clauses.command("show")
@click.argument("clause_id")
@click.option("--lang", type=click.Choice(["en", "es"]), default="en", show_default=True)
@click.pass_context
def clauses_show(ctx: click.Context, clause_id: str, lang: str) -> None:
    """Show one clause module: its metadata, rule, notes and template."""
    from contractgen.pipeline import open_library

    library = open_library(_root(ctx))
    module = library.get(clause_id)
    lines = [
        f"id:       {module.id}",
        "title:    " + "; ".join(f"{k}: {v}" for k, v in module.titles.items()),
        f"kind:     {module.kind}" + (f" (in {module.parent})" if module.parent else ""),
        f"area:     {module.area}",
        f"order:    {module.order}",
        f"version:  {module.version}",
        f"include:  {module.include}",
    ]
    if module.requires:
        lines.append(f"requires: {', '.join(module.requires)}")
    if module.excludes:
        lines.append(f"excludes: {', '.join(module.excludes)}")
    if module.fields:
        lines.append(f"fields:   {', '.join(module.fields)}")
    if module.notes:
        lines.append(f"notes:    {module.notes}")
    lines.extend(f"verify:   {point}" for point in module.verify)
    lines.append(f"metadata: {library.rel(module.meta_path)}")
    template = module.template_path(lang)
    lines.append(f"template: {library.rel(template)}")
    click.echo("\n".join(lines))
    if template.exists():
        click.echo("\n" + template.read_text(encoding="utf-8").rstrip())


def main() -> None:
    """Run the command line, with the cyclic garbage collector run only between deal sheets
    (``collector``: a command is one short process, and its contracts make no cycles)."""
    collector.pause()
    cli(obj={})
