"""The query catalog: every Cypher statement credgraph runs, in the subset Neo4j 5 and
FalkorDB both accept. Values are always parameters; labels come only from
:mod:`graph.dialect`'s vetted list (the ``{label}`` placeholders)."""

from __future__ import annotations

import re

_PROPERTY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# -- loading (UNWIND batches, MERGE on uid: idempotent) ------------------------------------
#: The loader's fast statements: rows are lists (rendered in one pass), ``r[0]`` the uid
#: (relationships: ``r[0]``, ``r[1]`` the ends, ``r[2]`` the source rows they stand for),
#: the properties a map literal of the row's positions (:func:`row_map`), which replaces
#: every property of the node or relationship (null: not stored).
MERGE_NODE_ROWS = "UNWIND $rows AS r MERGE (n:{label} {{uid: r[0]}}) SET n = {props}"
MERGE_REL_ROWS = (
    "UNWIND $rows AS r MATCH (a:{from_label} {{uid: r[0]}}) MATCH (b:{to_label} {{uid: r[1]}}) "
    "MERGE (a)-[x:{rel}]->(b) SET x = {props} RETURN sum(r[2]) AS n"
)

#: The same rows into labels that held no node when the load started (an initial load):
#: every node and every relationship with such an end is new, so it is created without the
#: look-up MERGE does (a resumed load finds those labels filled and MERGEs again).
CREATE_NODE_ROWS = "UNWIND $rows AS r CREATE (n:{label} {props})"
CREATE_REL_ROWS = (
    "UNWIND $rows AS r MATCH (a:{from_label} {{uid: r[0]}}) MATCH (b:{to_label} {{uid: r[1]}}) "
    "CREATE (a)-[x:{rel} {props}]->(b) RETURN sum(r[2]) AS n"
)
LABEL_HAS_NODES = "MATCH (n:{label}) RETURN 1 AS x LIMIT 1"
#: The position of the resolution state whose runs the graph holds (one node per state).
LOADED_STATE = "MATCH (m:LoadedState {uid: $id}) RETURN m.batch_seq AS seq, m.batch_id AS batch"
SET_LOADED_STATE = "MERGE (m:LoadedState {uid: $id}) SET m.batch_seq = $seq, m.batch_id = $batch"
#: Any resolution state the graph holds runs of (a one-shot run beside them: a warning).
ANY_LOADED_STATE = "MATCH (m:LoadedState) RETURN m.batch_id AS batch LIMIT 1"


def row_map(columns: list[str], offset: int, uid: bool = False) -> str:
    """``{name: r[i], …}`` for property names that are plain identifiers (checked: names
    come from the run's files, so nothing else may enter the statement text)."""
    for c in columns:
        if not _PROPERTY.match(c):
            raise ValueError(f"property name {c!r} is not an identifier")
    items = (["uid: r[0]"] if uid else []) + [
        f"{c}: r[{i + offset}]" for i, c in enumerate(columns)
    ]
    return "{" + ", ".join(items) + "}"


#: Node properties are replaced by the run's (a property the state no longer has goes).
MERGE_NODES = "UNWIND $rows AS r MERGE (n:{label} {{uid: r.uid}}) SET n = r.props, n.uid = r.uid"
SET_PROPS = "UNWIND $rows AS r MATCH (n:{label} {{uid: r.uid}}) SET n += r.props"
MERGE_BARE = "UNWIND $rows AS r MERGE (n:{label} {{uid: r.uid}})"
#: Relationship writes return how many source rows (``r.w``) they wrote: a row whose end
#: node is missing matches nothing and is reported, never dropped silently.
MERGE_REL = (
    "UNWIND $rows AS r MATCH (a:{from_label} {{uid: r.src}}) MATCH (b:{to_label} {{uid: r.dst}}) "
    "MERGE (a)-[x:{rel}]->(b) SET x = r.props RETURN sum(r.w) AS n"
)
MARK_MERGED = (
    "UNWIND $rows AS r MATCH (old:{label} {{uid: r.old}}) "
    "SET old.merged_into = r.new, old.lifecycle = 'merged'"
)
DETACH_MERGED = "UNWIND $rows AS r MATCH (old:{label} {{uid: r.old}})-[x]-() DELETE x"
# -- stateful runs: what goes (see graph/load.py) ---------------------------------------------
DELETE_NODES = "UNWIND $rows AS r MATCH (n:{label} {{uid: r.uid}}) DETACH DELETE n"
DETACH_RELS = "UNWIND $rows AS r MATCH (n:{label} {{uid: r.uid}})-[x:{rels}]-() DELETE x"
UNLINK_RESOLVED_TO = (
    "UNWIND $rows AS r MATCH (s:SourceRecord {uid: r.src})-[x:RESOLVED_TO]->(e) "
    "WHERE e.uid <> r.dst DELETE x"
)
DELETE_UNUSED = "UNWIND $rows AS r MATCH (n:{label}) WHERE NOT (n)--() DELETE n"

# -- look-ups ----------------------------------------------------------------------------
ENTITY_BY_UID = "MATCH (n:{label} {{uid: $uid}}) RETURN n.uid AS uid, n.merged_into AS merged_into, n.name AS name"
NEIGHBOURS = (
    "MATCH (n:{label} {{uid: $uid}})-[r]-(m) RETURN type(r) AS rel, labels(m)[0] AS label, m.uid AS uid, "
    "m.name AS name ORDER BY rel, uid LIMIT $limit"
)
#: Partial-name search. CONTAINS runs the same on both backends and finds every substring
#: (腾讯 in 深圳市腾讯计算机系统有限公司); FalkorDB's Chinese full-text index misses words its
#: segmenter does not know (字节跳动), so it is not relied on for look-ups.
SEARCH_ENTERPRISES = (
    "MATCH (e:Enterprise) WHERE e.name CONTAINS $text AND e.merged_into IS NULL "
    "RETURN e.uid AS uid, e.name AS name ORDER BY size(e.name), uid LIMIT $limit"
)
# -- key resolution and the entity view (graph/lookup.py) --------------------------------
#: A node's properties by uid (``{label}`` is Enterprise or Person).
NODE_BY_UID = "MATCH (n:{label} {{uid: $uid}}) RETURN properties(n) AS props"
ENTERPRISE_BY_USCC = (
    "MATCH (n:Enterprise) WHERE n.uscc = $value RETURN n.uid AS uid ORDER BY uid LIMIT $limit"
)
ENTERPRISE_BY_ORG_CODE = (
    "MATCH (n:Enterprise) WHERE n.org_code = $value RETURN n.uid AS uid ORDER BY uid LIMIT $limit"
)
ENTERPRISE_BY_REG_NO = (
    "MATCH (n:Enterprise) WHERE n.reg_no = $value RETURN n.uid AS uid ORDER BY uid LIMIT $limit"
)
PERSON_BY_ID_HASH = (
    "MATCH (n:Person) WHERE n.id_hash = $value RETURN n.uid AS uid ORDER BY uid LIMIT $limit"
)
#: Department records (``DEPT|KIND|RECORD_ID``, one uid per entity kind) to the entities
#: they resolved to.
RECORD_ENTITY = (
    "UNWIND $uids AS u MATCH (s:SourceRecord {uid: u})-[:RESOLVED_TO]->(n) "
    "RETURN s.uid AS record, labels(n)[0] AS label, n.uid AS uid ORDER BY record, uid"
)
#: An event record (credit event, fact, declaration; ``{label}``) to its subject.
EVENT_SUBJECT = (
    "MATCH (n)-[:SUBJECT_OF]->(ev:{label} {{uid: $uid}}) "
    "RETURN labels(n)[0] AS label, n.uid AS uid ORDER BY uid"
)
#: Name search ranked: exact name, then prefix, then substring (former names count too).
SEARCH_ENTITY_NAMES = (
    "MATCH (n:{label}) WHERE n.merged_into IS NULL AND (n.name CONTAINS $text "
    "OR any(f IN coalesce(n.former_names, []) WHERE f CONTAINS $text)) "
    "RETURN n.uid AS uid, n.name AS name, "
    "CASE WHEN n.name = $text THEN 0 WHEN n.name STARTS WITH $text THEN 1 "
    "WHEN n.name CONTAINS $text THEN 2 ELSE 3 END AS rank "
    "ORDER BY rank, size(n.name), uid LIMIT $limit"
)
#: How many entities a name search matches in all (the list above is capped).
COUNT_ENTITY_NAMES = (
    "MATCH (n:{label}) WHERE n.merged_into IS NULL AND (n.name CONTAINS $text "
    "OR any(f IN coalesce(n.former_names, []) WHERE f CONTAINS $text)) RETURN count(n) AS total"
)
#: IDs redirected (merged) into the given ones.
MERGED_INTO = (
    "MATCH (o:{label}) WHERE o.merged_into IN $uids RETURN o.uid AS uid, o.merged_into AS target "
    "ORDER BY uid"
)
#: The department records of an entity.
MEMBER_RECORDS = (
    "MATCH (s:SourceRecord)-[x:RESOLVED_TO]->(n:{label} {{uid: $uid}}) "
    "RETURN s.dept AS dept, s.record_id AS record_id, s.batch_id AS batch_id, "
    "x.decision AS decision, x.score AS score ORDER BY dept, record_id LIMIT $limit"
)
#: Role, shareholding and branch relationships on either side of an entity.
RELATED_IN = (
    "MATCH (m)-[r:LEGAL_REP_OF|SERVES_AS|HOLDS_SHARES|BRANCH_OF]->(n:{label} {{uid: $uid}}) "
    "RETURN type(r) AS rel, labels(m)[0] AS label, m.uid AS uid, m.name AS name, "
    "r.role AS role, r.ratio AS ratio, r.amount AS amount, r.start AS start_date, "
    "r.end AS end_date, r.sources AS sources, r.source_kinds AS source_kinds "
    "ORDER BY rel, uid LIMIT $limit"
)
RELATED_OUT = (
    "MATCH (n:{label} {{uid: $uid}})-[r:LEGAL_REP_OF|SERVES_AS|HOLDS_SHARES|BRANCH_OF]->(m) "
    "RETURN type(r) AS rel, labels(m)[0] AS label, m.uid AS uid, m.name AS name, "
    "r.role AS role, r.ratio AS ratio, r.amount AS amount, r.start AS start_date, "
    "r.end AS end_date, r.sources AS sources, r.source_kinds AS source_kinds "
    "ORDER BY rel, uid LIMIT $limit"
)
#: Events of one kind (``{event_label}``: CreditEvent, Fact, TaxDeclaration), newest first.
SUBJECT_EVENTS = (
    "MATCH (n:{label} {{uid: $uid}})-[:SUBJECT_OF]->(ev:{event_label}) "
    "RETURN labels(ev)[0] AS label, properties(ev) AS props "
    "ORDER BY coalesce(ev.date, ev.period, '') DESC, ev.uid LIMIT $limit"
)
COUNT_SUBJECT_EVENTS = (
    "MATCH (n:{label} {{uid: $uid}})-[:SUBJECT_OF]->(ev) "
    "RETURN labels(ev)[0] AS label, count(ev) AS n ORDER BY label"
)

SHAREHOLDINGS = (
    "MATCH (h)-[s:HOLDS_SHARES]->(e:Enterprise) RETURN h.uid AS holder, labels(h)[0] AS holder_label, "
    "e.uid AS company, s.ratio AS ratio"
)
CONTROL_EDGES = (
    "MATCH (a)-[r:HOLDS_SHARES|LEGAL_REP_OF|BRANCH_OF]->(b:Enterprise) RETURN a.uid AS src, "
    "labels(a)[0] AS src_label, type(r) AS rel, b.uid AS dst"
)
SHARED_CONTACT = (
    "MATCH (e:Enterprise)-[:{rel}]->(c:{label}) WITH c, collect(e.uid) AS companies "
    "WHERE size(companies) >= $min_size RETURN c.uid AS contact, companies ORDER BY size(companies) DESC"
)
COUNT_NODES = "MATCH (n) RETURN labels(n)[0] AS label, count(n) AS n ORDER BY label"
COUNT_RELS = "MATCH ()-[r]->() RETURN type(r) AS rel, count(r) AS n ORDER BY rel"
