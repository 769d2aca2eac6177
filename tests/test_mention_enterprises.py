"""Enterprises known only from mentions (a corporate shareholder, a role's enterprise that no
registration record carries) are golden enterprises with registry IDs, so no shareholding or
role row is dropped; when their registration record arrives, the entity keeps that ID."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from graph.load import load_run
from graph.store import FalkorStore, open_store
from resolver.standardize import identifiers as ids
from resolver.state.incremental import run_link_stateful
from resolver.state.store import State
from tests.conftest import SAMPLE
from tests.test_incremental import USCC, _with_extra

#: A second valid USCC that no record of the sample carries.
OTHER = ids.make_uscc("9", "1", "440605", "6A2B4C1D")


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _registered_usccs(n: int) -> list[str]:
    with (SAMPLE / "batch" / "amr_enterprise.csv").open(encoding="gbk", newline="") as fh:
        found = [r["统一社会信用代码"] for r in csv.DictReader(fh) if r["统一社会信用代码"]]
    return list(dict.fromkeys(found))[:n]


def _with_holdings(dest: Path, rows: list[tuple[str, str, str, str, str]]) -> Path:
    """The sample batch plus a shareholding file: (id, enterprise USCC, enterprise name,
    holder USCC, holder name) — corporate holders."""
    shutil.copytree(SAMPLE / "batch", dest)
    with (dest / "test_holdings.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["编号", "统一社会信用代码", "企业名称", "股东统一社会信用代码", "股东名称"])
        w.writerows(rows)
    m = yaml.safe_load((dest / "manifest.yaml").read_text("utf-8"))
    m["batch_id"] = "mention-1"
    m["sources"].append(
        {
            "dept": "TEST",
            "file": "test_holdings.csv",
            "kind": "shareholding",
            "record_id": "编号",
            "columns": {
                "统一社会信用代码": "uscc",
                "企业名称": "name",
                "股东统一社会信用代码": "holder_uscc",
                "股东名称": "holder_name",
            },
        }
    )
    (dest / "manifest.yaml").write_text(
        yaml.safe_dump(m, allow_unicode=True, sort_keys=False), "utf-8"
    )
    return dest


def _edge(run: Path, record_id: str) -> dict[str, Any]:
    return next(e for e in _jsonl(run / "edges.jsonl") if e["source"]["record_id"] == record_id)


def test_mention_only_enterprises_get_registry_ids_and_are_adopted(
    graph_uri: str, tmp_path: Path
) -> None:
    reg_a, reg_b = _registered_usccs(2)
    b1 = _with_holdings(
        tmp_path / "b1",
        [
            ("H1", reg_a, "", USCC, "佛山市测提及控股有限公司"),  # holder known only here
            ("H2", reg_a, "", reg_b, "某个写错的名称有限公司"),  # holder registered: by USCC
            ("H3", OTHER, "佛山市测提及实业有限公司", USCC, "测提及控股"),  # both mention-only
        ],
    )
    state = tmp_path / "state"
    run_link_stateful(b1, tmp_path / "r1", state)
    r1 = tmp_path / "r1"
    golden = {g["id"]: g for g in _jsonl(r1 / "golden.jsonl")}
    by_uscc = {
        g["attributes"].get("uscc"): g["id"] for g in golden.values() if g["type"] == "Enterprise"
    }
    h1, h2, h3 = (_edge(r1, k) for k in ("H1", "H2", "H3"))
    mention = h1["from"]
    assert re.fullmatch(r"E\d{9}", mention)
    assert h1["resolved"]["from"] == "by_id_mention"
    assert h3["from"] == mention  # the same USCC, the same entity
    assert golden[mention]["known_from"] == "mentions"
    assert golden[mention]["attributes"] == {"name": "佛山市测提及控股有限公司", "uscc": USCC}
    assert golden[mention]["members"] == []
    # A USCC that a registration record carries resolves to that enterprise, whatever the name.
    assert h2["from"] == by_uscc[reg_b] and h2["resolved"]["from"] == "by_id"
    assert golden[h3["to"]]["known_from"] == "mentions" and re.fullmatch(r"E\d{9}", h3["to"])
    with State(state) as st:
        assert [h["event"] for h in st.history(mention)] == ["create"]

    store = open_store(graph_uri)
    assert isinstance(store, FalkorStore)
    try:
        summary = load_run(store, r1, bulk=False)
        holds = summary.counts["HOLDS_SHARES"]
        assert sum(holds.skipped.values()) == 0 and holds.written == holds.rows
        node = store.read(
            "MATCH (h:Enterprise {uid: $u})-[:HOLDS_SHARES]->(e:Enterprise) "
            "RETURN h.known_from AS k, h.members AS m, h.uscc AS u, collect(e.uid) AS to",
            {"u": mention},
        )
        assert len(node) == 1
        assert (node[0]["k"], node[0]["m"], node[0]["u"]) == ("mentions", 0, USCC)
        assert sorted(node[0]["to"]) == sorted({h1["to"], h3["to"]})

        # The registration record arrives: the cluster keeps the mention's ID ("adopt").
        b2 = _with_extra(
            tmp_path / "b1",
            tmp_path / "b2",
            [("T1", USCC, "佛山市测提及控股有限公司", "广东省佛山市南海区桂城街道9号", "")],
            "mention-2",
        )
        run_link_stateful(b2, tmp_path / "r2", state)
        with (tmp_path / "r2" / "resolved.csv").open(encoding="utf-8", newline="") as fh:
            t1 = next(r for r in csv.DictReader(fh) if r["record_id"] == "T1")
        assert t1["entity_id"] == mention
        with State(state) as st:
            assert [h["event"] for h in st.history(mention)] == ["create", "adopt"]
        load_run(store, tmp_path / "r2", bulk=False)
        after = store.read(
            "MATCH (h:Enterprise {uid: $u}) RETURN h.known_from AS k, h.members AS m",
            {"u": mention},
        )
        assert after == [{"k": None, "m": 1}]
    finally:
        store.close()
