"""Every Cypher statement of the tax part, in the subset Neo4j 5 and FalkorDB both run.
Values are parameters; labels are the fixed ones of Contract 3 (vetted in graph.dialect)."""

from __future__ import annotations

# -- export of the tables the rules read ---------------------------------------------------
# Read with tax.tables.read_columns: plain rows in RETURN order (the columns of
# tax.tables.RECORD_COLUMNS after the label), no per-value client parsing.
ENTITIES = (
    "MATCH (e:Enterprise) WHERE e.merged_into IS NULL "
    "RETURN e.uid, e.uscc, e.name, e.industry, e.registration_status, e.established"
)
_RECORD = "RETURN x.uid, e.uid, x.dept, x.{kind}, x.period_start, x.period_end, x.{a}, x.{b}"
_WINDOW = "x.period_end >= $start AND x.period_start <= $end "
FACTS = (
    "MATCH (e:Enterprise)-[:SUBJECT_OF]->(x:Fact) WHERE x.fact_type IN $kinds AND "
    + _WINDOW
    + _RECORD.format(kind="fact_type", a="amount", b="quantity")
)
DECLARATIONS = (
    "MATCH (e:Enterprise)-[:SUBJECT_OF]->(x:TaxDeclaration) WHERE x.tax_type IN $kinds AND "
    + _WINDOW
    + _RECORD.format(kind="tax_type", a="taxable_amount", b="tax_paid")
)
ALL_DECLARATIONS = (
    "MATCH (e:Enterprise)-[:SUBJECT_OF]->(x:TaxDeclaration) WHERE "
    + _WINDOW
    + _RECORD.format(kind="tax_type", a="taxable_amount", b="tax_paid")
)
#: The full values of the records a run's findings cite (few), by label.
EVIDENCE_RECORDS = {
    "Fact": (
        "UNWIND $uids AS u MATCH (x:Fact {uid: u}) RETURN x.uid AS uid, x.dept AS dept, "
        "x.record_id AS record_id, x.period AS period, x.amount AS amount, "
        "x.quantity AS quantity, x.unit AS unit, x.reference AS reference"
    ),
    "TaxDeclaration": (
        "UNWIND $uids AS u MATCH (x:TaxDeclaration {uid: u}) RETURN x.uid AS uid, "
        "x.dept AS dept, x.record_id AS record_id, x.period AS period, "
        "x.taxable_amount AS taxable_amount, x.tax_paid AS tax_paid"
    ),
}
SOURCE_RECORDS = (
    "UNWIND $uids AS u MATCH (s:SourceRecord)-[:RESOLVED_TO]->(e:Enterprise {uid: u}) "
    "RETURN e.uid AS entity, s.uid AS uid, s.dept AS dept, s.record_id AS record_id, "
    "s.batch_id AS batch_id"
)

# -- findings --------------------------------------------------------------------------------
FINDING_FIELDS = (
    "f.uid AS uid, f.rule AS rule, f.entity_id AS entity_id, f.uscc AS uscc, "
    "f.entity_name AS entity_name, f.period AS period, f.region AS region, f.depts AS depts, "
    "f.estimated_gap AS estimated_gap, f.confidence AS confidence, f.status AS status, "
    "f.assigned_to AS assigned_to, f.recovered_amount AS recovered_amount, "
    "f.dismiss_reason AS dismiss_reason, f.evidence AS evidence, f.evidence_hash AS evidence_hash, "
    "f.inputs AS inputs, f.history AS history, f.review_flag AS review_flag, "
    "f.pending_evidence AS pending_evidence, f.pending_hash AS pending_hash, "
    "f.pending_gap AS pending_gap, f.pending_inputs AS pending_inputs, "
    "f.created_at AS created_at, f.updated_at AS updated_at, f.last_run_at AS last_run_at"
)
FINDINGS = "MATCH (f:Finding) RETURN " + FINDING_FIELDS + " ORDER BY f.uid"
FINDINGS_BY_UID = "UNWIND $uids AS u MATCH (f:Finding {uid: u}) RETURN " + FINDING_FIELDS
FINDINGS_IN_WINDOW = (
    "MATCH (f:Finding) WHERE f.rule IN $rules AND f.period IN $periods RETURN " + FINDING_FIELDS
)
#: The properties a run writes on a new finding, in the order of a CREATE_FINDINGS row.
CREATED_FIELDS = (
    "rule",
    "entity_id",
    "uscc",
    "entity_name",
    "period",
    "region",
    "depts",
    "estimated_gap",
    "confidence",
    "status",
    "evidence",
    "evidence_hash",
    "inputs",
    "history",
    "created_at",
    "updated_at",
    "last_run_at",
)
# A run's writes take rows as lists (uid first, then the fields in order): the FalkorDB
# store renders a batch of list rows with one json.dumps instead of value by value.
CREATE_FINDINGS = "UNWIND $rows AS r MERGE (f:Finding {uid: r[0]}) SET " + ", ".join(
    f"f.{name} = r[{i}]" for i, name in enumerate(CREATED_FIELDS, start=1)
)
TOUCH_FINDINGS = "UNWIND $rows AS r MATCH (f:Finding {uid: r[0]}) SET f.last_run_at = r[1]"
UPDATE_FINDINGS = "UNWIND $rows AS r MATCH (f:Finding {uid: r.uid}) SET f += r.props"
LINK_CONCERNS = (
    "UNWIND $rows AS r MATCH (f:Finding {uid: r[0]}) MATCH (e:Enterprise {uid: r[1]}) "
    "MERGE (f)-[:CONCERNS]->(e)"
)
#: One statement per evidence label (the three of Contract 3); rows [finding, record].
LINK_EVIDENCE = {
    label: (
        "UNWIND $rows AS r MATCH (f:Finding {uid: r[0]}) MATCH (x:" + label + " {uid: r[1]}) "
        "MERGE (f)-[:EVIDENCED_BY]->(x)"
    )
    for label in ("Fact", "TaxDeclaration", "SourceRecord")
}
UNLINK_EVIDENCE = "MATCH (f:Finding {uid: $uid})-[x:EVIDENCED_BY]->() DELETE x"
EVIDENCE_OF = (
    "MATCH (f:Finding {uid: $uid})-[:EVIDENCED_BY]->(x) "
    "RETURN labels(x)[0] AS label, x.uid AS uid, x.dept AS dept, x.record_id AS record_id "
    "ORDER BY uid"
)
FINDINGS_FILTERED = (
    "MATCH (f:Finding) WHERE ($rule IS NULL OR f.rule = $rule) "
    "AND ($status IS NULL OR f.status = $status) "
    "AND ($entity IS NULL OR f.entity_id = $entity) "
    "AND ($period IS NULL OR f.period = $period) "
    "AND ($region IS NULL OR f.region = $region) "
    "RETURN " + FINDING_FIELDS + " ORDER BY f.uid SKIP $skip LIMIT $limit"
)
