"""The review command group: list, decide, export and import judgements."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import click

from credgraph.common import (
    STATE_OPTION,
    open_state,
    output_file,
    plural,
    printable,
    record_ref,
)

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
@click.option(
    "--kind",
    type=click.Choice(["enterprise", "person"]),
    default=None,
    help="Only pairs of this kind (default: both).",
)
@click.option(
    "--limit", type=click.IntRange(1), default=20, show_default=True, help="Pairs to show at most."
)
@click.option("--all", "show_all", is_flag=True, help="Also list decided pairs.")
def review_list(state_dir: Path | None, kind: str | None, limit: int, show_all: bool) -> None:
    """Pairs in the review band, most likely matches first: each pair's status, the
    evidence on both sides (personal identifiers masked) and the per-feature weights."""
    with open_state(state_dir) as state:
        n_open, n_decided, pairs = state.review_queue(kind, show_all, limit)
        evidence = {
            key: state.record(key)
            for p in pairs
            for key in (
                (p["a_dept"], p["kind"], p["a_record"]),
                (p["b_dept"], p["kind"], p["b_record"]),
            )
        }
        batch_of = state.record_batches(evidence)
    click.echo(
        f"{plural(n_open, 'pair')} awaiting review, {n_decided:,} decided"
        + (
            f"; showing {len(pairs):,}"
            if len(pairs) < n_open + (n_decided if show_all else 0)
            else ""
        )
    )
    for n, p in enumerate(pairs, start=1):
        status = (
            "open"
            if p["status"] == "open"
            else f"decided {p['decision']} by {p['decided_by']} at {p['decided_at']}"
        )
        click.echo(
            f"\n#{n} {p['kind']}  {p['a_dept']}:{p['a_record']} ~ {p['b_dept']}:{p['b_record']}"
            f"  p={p['probability']:.3f}  [{status}]"
        )
        for side, key in (
            ("A", (p["a_dept"], p["kind"], p["a_record"])),
            ("B", (p["b_dept"], p["kind"], p["b_record"])),
        ):
            click.echo(f"  {side} {evidence_line(key, evidence[key], batch_of.get(key))}")
        click.echo(
            "  weights: "
            + ", ".join(
                f"{k} {v:+.2f}" if isinstance(v, float) else f"{k} -"
                for k, v in p["weights"].items()
            )
        )
        click.echo("  compared: " + ", ".join(f"{k}: {v}" for k, v in p["comparison"].items()))


def mask_phone(phone: str) -> str:
    """``+8613912345678`` as ``+86139****5678``: enough to compare, not to call."""
    digits = phone.strip()
    return digits[:-8] + "****" + digits[-4:] if len(digits) > 8 else "*" * len(digits)


def evidence_line(key: tuple[str, str, str], rec: Any, batch_id: str | None = None) -> str:
    """A record's evidence for a steward: department, file and line (of ``batch_id``, the
    batch that delivered the record as stored), names, address, masked phone and ID."""
    from resolver.linkage.survivorship import mask_id_number

    if rec is None:
        return f"{key[0]}:{key[2]} ({key[1]}; no longer in the state)"
    raw, std = rec.raw, rec.std
    parts = [
        f"{rec.dept} {rec.file or ''}:{rec.line}" + (f" (batch {batch_id})" if batch_id else "")
    ]
    for label, value in (
        ("name", raw.get("name") or raw.get("person_name")),
        ("address", raw.get("address")),
        ("phone", mask_phone(std.get("phone") or raw.get("phone") or "") or None),
        ("ID", mask_id_number(std["id18"]) if std.get("id18") else None),
        ("USCC", std.get("uscc")),
        ("born", (std.get("birth_date") or "")[:4] or None),
    ):
        if value:
            parts.append(f"{label} {printable(value)}")
    return "; ".join(parts)


@review.command("decide")
@click.argument("record_a")
@click.argument("record_b")
@click.option(
    "--match/--no-match", "is_match", required=True, help="Same entity, or certainly not."
)
@click.option("--by", "by", required=True, help="Who decides (kept with the judgement).")
@click.option("--reason", default="", help="Why (kept with the judgement).")
@click.option(
    "--kind",
    type=click.Choice(["enterprise", "person"]),
    default=None,
    help="The records' kind, when a department has an enterprise and a person record "
    "with these IDs.",
)
@STATE_OPTION
@LOCK_WAIT
def review_decide(
    record_a: str,
    record_b: str,
    is_match: bool,
    by: str,
    reason: str,
    kind: str | None,
    state_dir: Path | None,
    lock_wait: float,
) -> None:
    """Record a judgement between two records (DEPT:RECORD_ID); it wins in every later run."""
    from resolver.state.store import StateError

    a, b = record_ref(record_a), record_ref(record_b)
    with open_state(state_dir) as state:
        try:
            with state.lock(lock_wait, what="review decide"), state.transaction():
                state.add_judgement(
                    a, b, "match" if is_match else "no_match", by, reason, kind=kind
                )
        except StateError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(
        f"judgement stored: {record_a} {'=' if is_match else '≠'} {record_b} by {by}; "
        "it applies when the next new batch is linked into this state (re-running a batch "
        "already applied changes nothing)"
    )


@review.command("export")
@STATE_OPTION
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=output_file,
    required=True,
    help="CSV file for the judgements (`review import` reads it back).",
)
def review_export(state_dir: Path | None, out: Path) -> None:
    """Write every judgement to a CSV file (for bulk review or another state)."""
    from resolver.csvsafe import safe_writer

    with open_state(state_dir) as state:
        rows = state.judgements()
    with out.open("w", encoding="utf-8", newline="") as fh:
        w = safe_writer(fh)
        w.writerow(["record_a", "record_b", "kind", "decision", "by", "at", "reason"])
        for j in rows:
            w.writerow(
                [
                    f"{j.a[0]}:{j.a[2]}",
                    f"{j.b[0]}:{j.b[2]}",
                    j.a[1],
                    j.decision,
                    j.by,
                    j.at,
                    j.reason,
                ]
            )
    click.echo(f"{plural(len(rows), 'judgement')} written to {out}")


@review.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@STATE_OPTION
@LOCK_WAIT
def review_import(csv_file: Path, state_dir: Path | None, lock_wait: float) -> None:
    """Load judgements from a CSV file written by `review export` (or by hand, same columns)."""
    from resolver.csvsafe import restore
    from resolver.state.store import StateError

    try:
        text = csv_file.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise click.ClickException(
            f"{csv_file}: not UTF-8 text (byte 0x{exc.object[exc.start]:02X} at offset "
            f"{exc.start}); save it as UTF-8 CSV, as `review export` writes it"
        ) from exc
    header = next(csv.reader(io.StringIO(text)), [])
    missing = [c for c in ("record_a", "record_b", "decision", "by") if c not in header]
    if missing:
        raise click.ClickException(
            f"{csv_file} line 1: missing column(s) {', '.join(missing)}; the header is "
            "record_a,record_b,decision,by,at,reason as `review export` writes it"
        )
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows: list[tuple[int, dict[str, str]]] = []  # (the row's last line, its cells)
    try:
        for row in reader:
            cells = {k: restore(v) if isinstance(v, str) else v for k, v in row.items()}
            rows.append((reader.reader.line_num, cells))
    except csv.Error as exc:  # a field over the csv module's 1 MiB limit, a stray NUL…
        raise click.ClickException(f"{csv_file} line {reader.reader.line_num}: {exc}") from exc
    stored = 0
    with open_state(state_dir) as state:
        try:
            with state.lock(lock_wait, what="review import"), state.transaction():
                for line, r in rows:
                    try:
                        judgement = (
                            record_ref(r["record_a"]),
                            record_ref(r["record_b"]),
                            r["decision"],
                            r["by"],
                            r.get("reason") or "",
                            r.get("at") or None,
                        )
                        kind = r.get("kind") or None
                        if state.has_judgement(*judgement, kind=kind):
                            stored += 1
                            continue
                        state.add_judgement(*judgement, kind=kind)
                    except (StateError, KeyError, click.BadParameter) as exc:
                        raise click.ClickException(f"{csv_file} line {line}: {exc}") from exc
        except StateError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(
        f"{plural(len(rows) - stored, 'judgement')} imported"
        + (f", {stored:,} already stored as they are (left as they were)" if stored else "")
    )
