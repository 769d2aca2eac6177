"""The GraphQL API's read statements (part of the query catalog, kept apart from
:mod:`graph.queries` so that the API's batch look-ups stay in one place).

Every statement takes its values as parameters; ``$uids`` lists serve DataLoaders (one
statement per batch of keys, never one per row). Filter and order fragments are appended
by :mod:`api.enterprise.filters` from a whitelist of properties.
"""

from __future__ import annotations

ENTERPRISES_BY_UID = "MATCH (e:Enterprise) WHERE e.uid IN $uids RETURN e AS node"
PERSONS_BY_UID = "MATCH (p:Person) WHERE p.uid IN $uids RETURN p AS node"
ENTERPRISE_BY_USCC = (
    "MATCH (e:Enterprise {uscc: $uscc}) WHERE e.merged_into IS NULL RETURN e AS node LIMIT 1"
)
LEGAL_REPS = (
    "MATCH (p:Person)-[:LEGAL_REP_OF]->(e:Enterprise) WHERE e.uid IN $uids "
    "RETURN e.uid AS key, p AS node ORDER BY p.uid"
)
MEMBERS = (
    "MATCH (s:SourceRecord)-[r:RESOLVED_TO]->(n) WHERE n.uid IN $uids "
    "RETURN n.uid AS key, s.dept AS dept, s.record_id AS record_id, r.score AS score, "
    "r.decision AS decision ORDER BY s.dept, s.record_id"
)
TAX_DECLARATIONS = (
    "MATCH (e:Enterprise)-[:SUBJECT_OF]->(t:TaxDeclaration) WHERE e.uid IN $uids "
    "RETURN e.uid AS key, t AS node ORDER BY t.period, t.uid"
)
#: Enterprise list/search: ``{where}`` and ``{order}`` are fragments built from a whitelist.
ENTERPRISE_PAGE = (
    "MATCH (e:Enterprise) WHERE e.merged_into IS NULL AND ({where}) AND ({after}) "
    "RETURN e AS node, {key} ORDER BY {order} LIMIT $limit"
)
ENTERPRISE_COUNT = (
    "MATCH (e:Enterprise) WHERE e.merged_into IS NULL AND ({where}) RETURN count(e) AS n"
)
#: Text search over names and former names (CONTAINS runs the same on both backends; see
#: graph.queries.SEARCH_ENTERPRISES) and identifier prefixes.
SEARCH_NAME_COND = (
    "(e.name CONTAINS $text OR any(f IN coalesce(e.former_names, []) WHERE f CONTAINS $text))"
)
SEARCH_ID_COND = (
    "(e.uscc STARTS WITH $text OR e.org_code STARTS WITH $text OR e.reg_no STARTS WITH $text)"
)
SEARCH_PERSON_COND = "p.name CONTAINS $text"
PERSON_PAGE = (
    "MATCH (p:Person) WHERE p.merged_into IS NULL AND {cond} AND ({after}) "
    "RETURN p AS node, size(p.name) AS k1, p.uid AS k2 ORDER BY k1, k2 LIMIT $limit"
)
PERSON_COUNT = "MATCH (p:Person) WHERE p.merged_into IS NULL AND {cond} RETURN count(p) AS n"
#: Relations within ``{depth}`` hops (1–3, a literal from a fixed set) over ``{types}``
#: (relationship types from the dialect's whitelist).
RELATIONS = (
    "MATCH path = (n {{uid: $uid}})-[:{types}*1..{depth}]-(m) WHERE n:Enterprise OR n:Person "
    "UNWIND relationships(path) AS r WITH DISTINCT r "
    "WITH startNode(r) AS a, r, endNode(r) AS b "
    "RETURN a.uid AS from_uid, labels(a)[0] AS from_label, a.name AS from_name, type(r) AS type, "
    "r.role AS role, r.ratio AS ratio, b.uid AS to_uid, labels(b)[0] AS to_label, b.name AS to_name "
    "ORDER BY from_uid, type, to_uid LIMIT $limit"
)
#: The shareholding edges above one company (its holders' holdings), for equity penetration.
UPSTREAM_SHARES = (
    "MATCH (c:Enterprise {uid: $uid})<-[:HOLDS_SHARES*1..6]-(h) WITH DISTINCT h "
    "MATCH (h)-[s:HOLDS_SHARES]->(x:Enterprise) "
    "RETURN h.uid AS holder, labels(h)[0] AS holder_label, h.name AS holder_name, "
    "x.uid AS company, s.ratio AS ratio"
)
PING = "RETURN 1 AS ok"
#: Holders of each company's shares (persons and enterprises), largest share first.
SHAREHOLDERS = (
    "MATCH (h)-[s:HOLDS_SHARES]->(e:Enterprise) WHERE e.uid IN $uids "
    "RETURN e.uid AS key, h.uid AS uid, labels(h)[0] AS label, h.name AS name, s.ratio AS ratio "
    "ORDER BY s.ratio DESC, uid"
)
BRANCHES = (
    "MATCH (b:Enterprise)-[:BRANCH_OF]->(e:Enterprise) WHERE e.uid IN $uids "
    "RETURN e.uid AS key, b AS node ORDER BY b.uid"
)
PARENTS = (
    "MATCH (e:Enterprise)-[:BRANCH_OF]->(p:Enterprise) WHERE e.uid IN $uids "
    "RETURN e.uid AS key, p AS node ORDER BY p.uid"
)
#: Every live enterprise's names, for the API's in-memory n-gram search index.
ENTERPRISE_NAMES = (
    "MATCH (e:Enterprise) WHERE e.merged_into IS NULL "
    "RETURN e.uid AS uid, e.name AS name, e.former_names AS former_names"
)
PERSON_NAMES = "MATCH (p:Person) WHERE p.merged_into IS NULL RETURN p.uid AS uid, p.name AS name"
