"""The tables the rules read, exported from the graph in a few parameterised reads.

Rules run over these in-memory tables rather than as one Cypher query per rule: the joins
(entity × period × several inputs, due dates with grace periods) are plain Python over
dictionaries, identical on both backends, and a full run reads each node once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from graph.store import FalkorStore, GraphStore, GraphStoreError
from tax import queries
from tax.catalog import Catalog, Rule
from tax.periods import Quarter


@dataclass(frozen=True, slots=True)
class EntityRow:
    uid: str
    uscc: str | None
    name: str | None
    industry: str | None
    registration_status: str | None
    established: dt.date | None

    @property
    def region(self) -> str | None:
        """The administrative division code a USCC carries (characters 3–8)."""
        return self.uscc[2:8] if self.uscc and len(self.uscc) == 18 else None


#: The columns of the record table (one row per Fact or TaxDeclaration in the window).
RECORD_COLUMNS = ("label", "uid", "entity", "dept", "kind", "start", "end", "a", "b")
#: Which stored field each label keeps in the numeric columns ``a`` and ``b``.
NUMBER_FIELDS = {"Fact": ("amount", "quantity"), "TaxDeclaration": ("taxable_amount", "tax_paid")}


@dataclass(slots=True)
class Tables:
    """The exported tables as columns: ``entities`` (indexed by golden ID: uscc, name,
    industry, registration_status, established) and ``records`` (RECORD_COLUMNS; dates as
    datetime64, numbers as float64, NaN/NaT when absent)."""

    entities: pd.DataFrame
    records: pd.DataFrame
    _rows: dict[str, EntityRow] = field(default_factory=dict)

    def entity_rows(self, uids: list[str]) -> dict[str, EntityRow]:
        """The given entities as row objects (built for the entities that fire)."""
        wanted = [u for u in dict.fromkeys(uids) if u not in self._rows]
        if wanted:
            part = self.entities.loc[wanted]
            established = part["established"].dt.date
            for uid, uscc, name, industry, status, est in zip(
                wanted,
                part["uscc"],
                part["name"],
                part["industry"],
                part["registration_status"],
                established,
                strict=True,
            ):
                self._rows[uid] = EntityRow(
                    uid=uid,
                    uscc=_text(uscc),
                    name=_text(name),
                    industry=_text(industry),
                    registration_status=_text(status),
                    established=None if pd.isna(est) else est,
                )
        return {u: self._rows[u] for u in uids}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def read_columns(
    store: GraphStore, query: str, params: dict[str, Any] | None = None
) -> list[list[Any]]:
    """A read's rows as plain lists in RETURN order.

    On FalkorDB the statement goes out as a raw ``GRAPH.RO_QUERY`` in the server's verbose
    result format, whose rows the C protocol parser already delivers as Python lists: the
    falkordb client's per-value result parsing (the bulk of an export's time) is skipped.
    Strings and integers arrive as they are, floats as their text (callers convert columns).
    """
    if isinstance(store, FalkorStore):
        from redis.exceptions import RedisError

        try:
            reply = store.db.connection.execute_command(
                "GRAPH.RO_QUERY", store.uri.database, store.prepare(query, params)
            )
        except RedisError as exc:
            raise GraphStoreError(f"{exc} (query: {query[:200]})") from exc
        return [list(r) for r in reply[1]] if len(reply) > 2 else []
    return [list(r.values()) for r in store.read(query, params)]


def _frame(rows: list[list[Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    return pd.DataFrame.from_records(rows, columns=list(columns))


def _dates(col: pd.Series) -> pd.Series:
    """ISO date texts (the first ten characters) as datetime64; NaT when absent or invalid."""
    codes, uniques = pd.factorize(col)  # a year of records holds a few hundred dates
    if len(uniques) == 0:
        return pd.Series(pd.NaT, index=col.index, dtype="datetime64[ns]")
    try:
        text = pd.Series(uniques, dtype=object).str[:10]
    except AttributeError:  # no text at all in the column
        return pd.Series(pd.NaT, index=col.index, dtype="datetime64[ns]")
    parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce").to_numpy()
    values = np.where(codes >= 0, parsed[np.maximum(codes, 0)], np.datetime64("NaT"))
    return pd.Series(values, index=col.index, dtype="datetime64[ns]")


def _numbers(col: pd.Series) -> pd.Series:
    return pd.to_numeric(col, errors="coerce").astype("float64")


def _records(label: str, rows: list[list[Any]]) -> pd.DataFrame:
    df = _frame(rows, RECORD_COLUMNS[1:])
    df.insert(0, "label", label)
    df["start"], df["end"] = _dates(df["start"]), _dates(df["end"])
    df["a"], df["b"] = _numbers(df["a"]), _numbers(df["b"])
    df["dept"] = df["dept"].fillna("")
    df["kind"] = df["kind"].fillna("")
    return df


def _entities(rows: list[list[Any]], catalog: Catalog) -> pd.DataFrame:
    cols = ("uid", "uscc", "name", "industry", "registration_status", "established")
    df = _frame(rows, cols)
    df["established"] = _dates(df["established"])
    missing = df["industry"].map(lambda v: not v)
    if missing.any():
        df.loc[missing, "industry"] = df.loc[missing, "name"].map(catalog.industry_from_name)
    return df.drop_duplicates("uid").set_index("uid")


def evidence_details(store: GraphStore, uids: dict[str, set[str]]) -> dict[str, dict[str, Any]]:
    """The full stored values (dept, record_id, period, amounts, unit, reference) of the
    records findings cite, by uid (``uids``: label -> uids)."""
    out: dict[str, dict[str, Any]] = {}
    for lab, wanted in uids.items():
        query = queries.EVIDENCE_RECORDS.get(lab)
        ordered = sorted(wanted)
        for i in range(0 if query else len(ordered), len(ordered), 5000):
            for r in store.read(query or "", {"uids": ordered[i : i + 5000]}):
                out[r["uid"]] = r
    return out


def read_window(rules: list[Rule], quarters: list[Quarter]) -> tuple[dt.date, dt.date]:
    """The date range the tables must cover: the run's quarters, reaching back by the longest
    grace period (a due fact dates from before its quarter) and to the start of that year
    (declarations of a due rule count from the year the fact falls in)."""
    start, end = quarters[0].start, quarters[-1].end
    grace = max((r.grace_days for r in rules), default=0)
    back = start - dt.timedelta(days=grace)
    return dt.date(back.year, 1, 1), end


def export_tables(
    store: GraphStore, catalog: Catalog, rules: list[Rule], quarters: list[Quarter]
) -> Tables:
    """Read the entities, facts and declarations the given rules need for the quarters."""
    start, end = read_window(rules, quarters)
    params = {"start": start.isoformat(), "end": end.isoformat()}
    fact_kinds: set[str] = set()
    decl_kinds: set[str] = set()
    any_declaration = False
    for rule in rules:
        for sel in rule.inputs.values():
            kinds = sel.match.get("fact_type" if sel.node == "Fact" else "tax_type")
            if sel.node == "Fact":
                fact_kinds.update(kinds or ())
            elif kinds:
                decl_kinds.update(kinds)
            else:
                any_declaration = True
    entities = _entities(read_columns(store, queries.ENTITIES), catalog)
    facts: list[list[Any]] = []
    if fact_kinds:
        facts = read_columns(store, queries.FACTS, {**params, "kinds": sorted(fact_kinds)})
    decls: list[list[Any]] = []
    if any_declaration:
        decls = read_columns(store, queries.ALL_DECLARATIONS, params)
    elif decl_kinds:
        decls = read_columns(store, queries.DECLARATIONS, {**params, "kinds": sorted(decl_kinds)})
    records = pd.concat(
        [_records("Fact", facts), _records("TaxDeclaration", decls)], ignore_index=True
    )
    return Tables(entities, records)
