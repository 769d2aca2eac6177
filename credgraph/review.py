"""The review command group: list, decide, export and import judgements."""

from __future__ import annotations

from pathlib import Path

import click

from credgraph.common import STATE_OPTION, open_state, record_ref

LOCK_WAIT = click.option(
    "--lock-wait",
    type=click.FloatRange(0.0),
    default=600.0,
    show_default=True,
    help="Seconds to wait while a run holds the state's writer lock.",
)


@click.group()
def review() -> None:
    """Human review of uncertain pairs: list them, decide them, export and import decisions."""


@review.command("list")
@STATE_OPTION
@click.option("--kind", type=click.Choice(["enterprise", "person"]), default=None)
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
def review_list(state_dir: Path | None, kind: str | None, limit: int) -> None:
    """Pairs in the review band, most likely matches first, with per-feature weights."""
    with open_state(state_dir) as state:
        pairs = state.review_pairs(kind, limit)
    if not pairs:
        click.echo("no pairs awaiting review")
    for p in pairs:
        click.echo(
            f"{p['kind']}  {p['a_dept']}:{p['a_record']}  {p['b_dept']}:{p['b_record']}  "
            f"p={p['probability']:.3f}  {p['name_a']} | {p['name_b']}"
        )
        click.echo(
            "    "
            + ", ".join(
                f"{k} {v:+.2f}" if isinstance(v, float) else f"{k} -"
                for k, v in p["weights"].items()
            )
        )
        click.echo("    " + ", ".join(f"{k}: {v}" for k, v in p["comparison"].items()))


@review.command("decide")
@click.argument("record_a")
@click.argument("record_b")
@click.option(
    "--match/--no-match", "is_match", required=True, help="Same entity, or certainly not."
)
@click.option("--by", "by", required=True, help="Who decides (kept with the judgement).")
@click.option("--reason", default="", help="Why (kept with the judgement).")
@STATE_OPTION
@LOCK_WAIT
def review_decide(
    record_a: str,
    record_b: str,
    is_match: bool,
    by: str,
    reason: str,
    state_dir: Path | None,
    lock_wait: float,
) -> None:
    """Record a judgement between two records (DEPT:RECORD_ID); it wins in every later run."""
    from resolver.state import StateError

    a, b = record_ref(record_a), record_ref(record_b)
    with open_state(state_dir) as state:
        try:
            with state.lock(lock_wait, what="review decide"), state.transaction():
                state.add_judgement(a, b, "match" if is_match else "no_match", by, reason)
        except StateError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(
        f"judgement stored: {record_a} {'=' if is_match else '≠'} {record_b} by {by}; "
        "it applies from the next `credgraph link` run on"
    )


@review.command("export")
@STATE_OPTION
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def review_export(state_dir: Path | None, out: Path) -> None:
    """Write every judgement to a CSV file (for bulk review or another state)."""
    import csv as _csv

    with open_state(state_dir) as state:
        rows = state.judgements()
    with out.open("w", encoding="utf-8", newline="") as fh:
        w = _csv.writer(fh, lineterminator="\n")
        w.writerow(["record_a", "record_b", "decision", "by", "at", "reason"])
        for j in rows:
            w.writerow(
                [f"{j.a[0]}:{j.a[1]}", f"{j.b[0]}:{j.b[1]}", j.decision, j.by, j.at, j.reason]
            )
    click.echo(f"{len(rows):,} judgements written to {out}")


@review.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@STATE_OPTION
@LOCK_WAIT
def review_import(csv_file: Path, state_dir: Path | None, lock_wait: float) -> None:
    """Load judgements from a CSV file written by `review export` (or by hand, same columns)."""
    import csv as _csv

    from resolver.state import StateError

    with open_state(state_dir) as state, csv_file.open(encoding="utf-8", newline="") as fh:
        rows = list(_csv.DictReader(fh))
        try:
            with state.lock(lock_wait, what="review import"), state.transaction():
                for line, r in enumerate(rows, start=2):
                    try:
                        state.add_judgement(
                            record_ref(r["record_a"]),
                            record_ref(r["record_b"]),
                            r["decision"],
                            r["by"],
                            r.get("reason") or "",
                            r.get("at") or None,
                        )
                    except (StateError, KeyError, click.BadParameter) as exc:
                        raise click.ClickException(f"{csv_file} line {line}: {exc}") from exc
        except StateError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"{len(rows):,} judgements imported")
