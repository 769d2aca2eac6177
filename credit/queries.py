"""Every Cypher statement credit/ runs (the subset Neo4j 5 and FalkorDB both accept).
Values are parameters; labels come from :mod:`graph.dialect`'s whitelist only.

What graph/load.py could carry instead of these look-ups: grade history is written here
(``Grade`` nodes); role start/end come from the role records (LEGAL_REP_OF/SERVES_AS
``start``/``end``)."""

from __future__ import annotations

from graph.dialect import label

ENT = label("Enterprise")
PER = label("Person")
EVENT_FIELDS = (
    "c.uid AS uid, c.event_type AS event_type, c.dept AS dept, c.record_id AS record_id, "
    "c.decision_no AS decision_no, c.date AS date, c.severity AS severity, "
    "c.authority AS authority, c.amount AS amount, c.description AS description"
)

NODE = "MATCH (n:{label} {{uid: $uid}}) RETURN n"
ENTERPRISE_BY_USCC = (
    f"MATCH (n:{ENT} {{uscc: $uscc}}) RETURN n.uid AS uid, n.merged_into AS merged_into"
)
ENTERPRISE_BY_NAME = (
    f"MATCH (n:{ENT} {{name: $name}}) RETURN n.uid AS uid, n.merged_into AS merged_into"
)
PERSON_BY_NAME = (
    f"MATCH (n:{PER} {{name: $name}}) RETURN n.uid AS uid, n.merged_into AS merged_into"
)

#: Everything a profile shows around one node, in one round trip (events and relations).
NEIGHBOURHOOD = (
    "MATCH (n:{label} {{uid: $uid}})-[r:SUBJECT_OF|LEGAL_REP_OF|SERVES_AS|HOLDS_SHARES|BRANCH_OF]-(x) "
    "RETURN type(r) AS rel, startNode(r).uid = n.uid AS outgoing, labels(x)[0] AS label, "
    "x.uid AS uid, x.name AS name, r.role AS role, r.start AS start, r.end AS end, "
    "r.ratio AS ratio, x.event_type AS event_type, x.dept AS dept, x.record_id AS record_id, "
    "x.decision_no AS decision_no, x.date AS date, x.severity AS severity, "
    "x.authority AS authority, x.amount AS amount, x.description AS description"
)
#: Many nodes of one label with their :data:`NEIGHBOURHOOD` each, in one round trip (batched
#: profiles): a node without neighbours has one all-null entry in ``near`` (OPTIONAL MATCH).
PROFILES_MANY = (
    "UNWIND $uids AS u MATCH (n:{label} {{uid: u}}) "
    "OPTIONAL MATCH (n)-[r:SUBJECT_OF|LEGAL_REP_OF|SERVES_AS|HOLDS_SHARES|BRANCH_OF]-(x) "
    "RETURN n, collect({{rel: type(r), outgoing: startNode(r).uid = n.uid, "
    "label: labels(x)[0], uid: x.uid, name: x.name, role: r.role, start: r.start, end: r.end, "
    "ratio: r.ratio, event_type: x.event_type, dept: x.dept, record_id: x.record_id, "
    "decision_no: x.decision_no, date: x.date, severity: x.severity, "
    "authority: x.authority, amount: x.amount, description: x.description}}) AS near"
)
#: Credit events of one subject.
EVENTS_OF = "MATCH (s:{label} {{uid: $uid}})-[:SUBJECT_OF]->(c:CreditEvent) RETURN " + EVENT_FIELDS
#: Credit events of many enterprises (check, grading).
EVENTS_OF_MANY = (
    f"UNWIND $uids AS u MATCH (s:{ENT} {{uid: u}})-[:SUBJECT_OF]->(c:CreditEvent) "
    "RETURN s.uid AS subject_uid, " + EVENT_FIELDS
)
#: Every credit event of the given types, with its subject (joint-supervision lists).
EVENTS_OF_TYPES = (
    "MATCH (s)-[:SUBJECT_OF]->(c:CreditEvent) WHERE c.event_type IN $types "
    "RETURN labels(s)[0] AS subject_label, s.uid AS subject_uid, s.name AS subject_name, "
    + EVENT_FIELDS
)
#: Every current enterprise (grade refresh): merged and retired ones have no grade of their own.
CURRENT_ENTERPRISES = (
    f"MATCH (e:{ENT}) WHERE e.lifecycle IS NULL OR e.lifecycle = 'active' "
    "RETURN e.uid AS uid ORDER BY uid"
)
#: Enterprises that have any credit event.
SUBJECTS_WITH_EVENTS = (
    f"MATCH (s:{ENT})-[:SUBJECT_OF]->(:CreditEvent) RETURN DISTINCT s.uid AS uid ORDER BY uid"
)

#: Persons' roles in enterprises, as the role records gave them (start/end may be null).
ROLES_IN = (
    f"UNWIND $uids AS u MATCH (p:{PER})-[r:LEGAL_REP_OF|SERVES_AS]->(e:{ENT} {{uid: u}}) "
    "RETURN p.uid AS person_uid, p.name AS person_name, e.uid AS enterprise_uid, "
    "type(r) AS rel, r.role AS role, r.start AS start, r.end AS end"
)

#: The index credit check matches against: every current enterprise's keys, packed into one
#: string a row (the client parses results cell by cell: one cell is 4x cheaper than four),
#: and the list of former names a loaded run gives (``former_names``; null for most).
KEY_SEPARATOR = "¦"
ENTERPRISE_KEYS = (
    f"MATCH (e:{ENT}) WHERE e.merged_into IS NULL "
    f"RETURN e.uid + '{KEY_SEPARATOR}' + coalesce(e.uscc, '') + '{KEY_SEPARATOR}' + "
    f"coalesce(e.former_name, '') + '{KEY_SEPARATOR}' + coalesce(e.name, '') AS k, "
    "e.former_names AS fs"
)
# -- grade history ---------------------------------------------------------------------------
GRADE = label("Grade")
LAST_GRADES = (
    f"UNWIND $uids AS u MATCH (e:{ENT} {{uid: u}})-[:GRADED]->(g:{GRADE}) "
    "RETURN e.uid AS uid, g.digest AS digest, g.as_of AS as_of, g.computed_at AS computed_at"
)
GRADE_HISTORY = (
    f"MATCH (e:{ENT} {{uid: $uid}})-[:GRADED]->(g:{GRADE}) "
    "RETURN g.grade AS grade, g.score AS score, g.as_of AS as_of, g.scorecard AS scorecard, "
    "g.lines AS lines, g.computed_at AS computed_at ORDER BY g.as_of, g.computed_at"
)
#: Grade nodes and GRADED relationships (counts the graph keeps: no scan). Every grade has
#: one GRADED; fewer relationships than grades mean grades no enterprise holds.
GRADE_COUNT = f"MATCH (g:{GRADE}) RETURN count(g) AS n"
GRADED_COUNT = "MATCH ()-[r:GRADED]->() RETURN count(r) AS n"
#: Grades no enterprise holds, per backend: left by a bulk load killed between its Grade
#: nodes and its GRADED relationships (graph/bulk.py sends nodes first), or by an enterprise
#: merged away (its relationships are removed). FalkorDB reads a node's degree by type
#: (``indegree``) ~50x faster than it tests a pattern; Neo4j reads the pattern as a degree.
DROP_UNHELD_GRADES = {
    "falkordb": f"MATCH (g:{GRADE}) WHERE indegree(g, 'GRADED') = 0 DELETE g",
    "neo4j": f"MATCH (g:{GRADE}) WHERE NOT ()-[:GRADED]->(g) DELETE g",
}
WRITE_GRADES = (
    f"UNWIND $rows AS r MATCH (e:{ENT} {{uid: r.entity}}) "
    f"MERGE (g:{GRADE} {{uid: r.uid}}) SET g += r.props MERGE (e)-[:GRADED]->(g)"
)
