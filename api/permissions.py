"""The authorisation matrix (role × type × field) and the masks, in one place.

Every field of every type the schema exposes has a row here; a field without a row is
denied to every role (default deny, and a test fails when the schema grows a field this
matrix does not list). ``docs/authorisation.md`` is rendered from this module and a test
keeps the two equal. Checked statically before execution (:mod:`api.protection`) and
again at resolution (:mod:`api.middleware`), which also applies the masks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PUBLIC, REGULATOR, TAX_OFFICER, ADMIN = "public", "regulator", "tax_officer", "admin"
ROLES = (PUBLIC, REGULATOR, TAX_OFFICER, ADMIN)
ALL = frozenset(ROLES)
SIGNED_IN = frozenset({REGULATOR, TAX_OFFICER, ADMIN})
TAX = frozenset({TAX_OFFICER, ADMIN})
ADMINS = frozenset({ADMIN})


def mask_to_province(value: str | None) -> str | None:
    """An ID number reduced to its province (first two digits): with the name and gender a
    regulator sees, this leaves every county of the province × every birth date × the
    sequence numbers — far above 10,000 candidates."""
    if not value:
        return value
    return value[:2] + "*" * (len(value) - 2)


def mask_phone(value: str | None) -> str | None:
    """A phone number with all but its last four digits hidden."""
    if not value:
        return value
    return "*" * max(0, len(value) - 4) + value[-4:]


def mask_person_name(value: str | None, root: Any = None) -> str | None:
    """A natural person's name cut to the surname (``王＊``); an enterprise's name is kept."""
    if not value or (isinstance(root, dict) and root.get("label") != "Person"):
        return value
    return value[0] + "＊"


MASKS: dict[str, Callable[[str | None, Any], str | None]] = {
    "province": lambda v, _root: mask_to_province(v),
    "phone": lambda v, _root: mask_phone(v),
    "person_name": mask_person_name,
}


@dataclass(frozen=True, slots=True)
class Rule:
    """Who may read a field, and which roles get it masked (mask name → roles)."""

    roles: frozenset[str]
    masked: tuple[tuple[str, frozenset[str]], ...] = ()

    def mask_for(self, role: str) -> str | None:
        for name, roles in self.masked:
            if role in roles:
                return name
        return None


def _r(roles: frozenset[str], **masked: frozenset[str]) -> Rule:
    return Rule(roles, tuple(masked.items()))


#: Structural types every role that can reach them may read in full.
OPEN_TYPES = frozenset(
    {
        "PageInfo",
        "EnterpriseConnection",
        "EnterpriseEdge",
        "SearchConnection",
        "SearchEdge",
    }
)

MATRIX: dict[str, dict[str, Rule]] = {
    "Query": {
        "search": _r(ALL),
        "enterprise": _r(ALL),
        "enterprises": _r(ALL),
        "person": _r(SIGNED_IN),
        "relations": _r(SIGNED_IN),
        "ultimateControllers": _r(SIGNED_IN),
        "entityHistory": _r(SIGNED_IN),
        "reviewQueue": _r(TAX),
        "linkageJobs": _r(TAX),
        "linkageJob": _r(TAX),
        "apiKeys": _r(ADMINS),
        "auditLog": _r(ADMINS),
    },
    "Mutation": {
        "decideReview": _r(TAX),
        "startLinkageJob": _r(TAX),
        "createApiKey": _r(ADMINS),
        "revokeApiKey": _r(ADMINS),
    },
    # Enterprise registration data is public (企业信用信息公示); contacts and the linkage
    # evidence are not; tax data only for tax officers and admins.
    "Enterprise": {
        "uid": _r(ALL),
        "name": _r(ALL),
        "formerNames": _r(ALL),
        "uscc": _r(ALL),
        "orgCode": _r(ALL),
        "regNo": _r(ALL),
        "registrationStatus": _r(ALL),
        "lifecycle": _r(ALL),
        "legalRepresentative": _r(ALL),
        "address": _r(ALL),
        "established": _r(ALL),
        "registeredCapital": _r(ALL),
        "industry": _r(ALL),
        "isBranch": _r(ALL),
        "registrationAuthority": _r(ALL),
        "shareholders": _r(ALL),
        "branches": _r(ALL),
        "parent": _r(ALL),
        "phone": _r(SIGNED_IN, phone=frozenset({REGULATOR})),
        "members": _r(SIGNED_IN),
        "taxDeclarations": _r(TAX),
    },
    # The public reaches a person only as an enterprise's legal representative, and sees
    # the name alone; the ID number is never stored in clear (the graph holds a 4+4 mask).
    "Person": {
        "name": _r(ALL),
        "uid": _r(SIGNED_IN),
        "gender": _r(SIGNED_IN),
        "idNumber": _r(SIGNED_IN, province=frozenset({REGULATOR})),
        "birthDate": _r(TAX),
        "phone": _r(TAX, phone=frozenset({TAX_OFFICER})),
        "address": _r(TAX),
        "lifecycle": _r(SIGNED_IN),
        "members": _r(SIGNED_IN),
    },
    # Shareholders are disclosed (企业信息公示), but the public sees a natural person only
    # as surname + ＊ (no person beyond a legal representative's name).
    "Shareholder": {
        "name": _r(ALL, person_name=frozenset({PUBLIC})),
        "ratio": _r(ALL),
        "label": _r(ALL),
        "uid": _r(SIGNED_IN),
    },
    "MemberRecord": {
        "dept": _r(SIGNED_IN),
        "recordId": _r(SIGNED_IN),
        "decision": _r(SIGNED_IN),
        "score": _r(SIGNED_IN),
        "explanation": _r(SIGNED_IN),
    },
    "TaxDeclaration": {
        "uid": _r(TAX),
        "dept": _r(TAX),
        "taxType": _r(TAX),
        "period": _r(TAX),
        "taxableAmount": _r(TAX),
        "taxPaid": _r(TAX),
    },
    "Relation": {
        "fromUid": _r(SIGNED_IN),
        "fromLabel": _r(SIGNED_IN),
        "fromName": _r(SIGNED_IN),
        "toUid": _r(SIGNED_IN),
        "toLabel": _r(SIGNED_IN),
        "toName": _r(SIGNED_IN),
        "type": _r(SIGNED_IN),
        "role": _r(SIGNED_IN),
        "ratio": _r(SIGNED_IN),
    },
    "Controller": {
        "uid": _r(SIGNED_IN),
        "label": _r(SIGNED_IN),
        "name": _r(SIGNED_IN),
        "share": _r(SIGNED_IN),
        "paths": _r(SIGNED_IN),
    },
    "EntityHistory": {
        "requested": _r(SIGNED_IN),
        "current": _r(SIGNED_IN),
        "redirects": _r(SIGNED_IN),
        "events": _r(SIGNED_IN),
    },
    "HistoryEvent": {
        "seq": _r(SIGNED_IN),
        "entityId": _r(SIGNED_IN),
        "event": _r(SIGNED_IN),
        "batchId": _r(SIGNED_IN),
        "at": _r(SIGNED_IN),
        "detail": _r(SIGNED_IN),
    },
    "ReviewPair": {
        "kind": _r(TAX),
        "recordA": _r(TAX),
        "recordB": _r(TAX),
        "nameA": _r(TAX),
        "nameB": _r(TAX),
        "probability": _r(TAX),
        "weights": _r(TAX),
        "comparison": _r(TAX),
        "batchId": _r(TAX),
    },
    "FeatureWeight": {"feature": _r(TAX), "weight": _r(TAX), "comparison": _r(TAX)},
    "Judgement": {
        "recordA": _r(TAX),
        "recordB": _r(TAX),
        "decision": _r(TAX),
        "by": _r(TAX),
    },
    "LinkageJob": {
        "id": _r(TAX),
        "batchPath": _r(TAX),
        "status": _r(TAX),
        "stage": _r(TAX),
        "done": _r(TAX),
        "total": _r(TAX),
        "startedBy": _r(TAX),
        "startedAt": _r(TAX),
        "finishedAt": _r(TAX),
        "error": _r(TAX),
        "runDir": _r(TAX),
    },
    "ApiKey": {
        "keyId": _r(ADMINS),
        "name": _r(ADMINS),
        "role": _r(ADMINS),
        "createdAt": _r(ADMINS),
        "revokedAt": _r(ADMINS),
    },
    "CreatedApiKey": {"key": _r(ADMINS), "token": _r(ADMINS)},
    "AuditEntry": {
        "seq": _r(ADMINS),
        "at": _r(ADMINS),
        "requestId": _r(ADMINS),
        "keyId": _r(ADMINS),
        "role": _r(ADMINS),
        "operation": _r(ADMINS),
        "variablesHash": _r(ADMINS),
        "entityIds": _r(ADMINS),
        "resultSize": _r(ADMINS),
        "status": _r(ADMINS),
    },
}

#: Object types only some roles may receive at all (a union member the search filters).
TYPE_ROLES: dict[str, frozenset[str]] = {"Person": SIGNED_IN}


def rule(type_name: str, field: str) -> Rule | None:
    """The rule for one field, or None (denied to everyone)."""
    if field.startswith("__") or type_name.startswith("__"):  # introspection: see protection
        return Rule(ALL)
    if type_name in OPEN_TYPES:
        return Rule(ALL)
    return MATRIX.get(type_name, {}).get(field)


def allowed(role: str, type_name: str, field: str) -> bool:
    r = rule(type_name, field)
    return r is not None and role in r.roles


def mask_name(role: str, type_name: str, field: str) -> str | None:
    r = rule(type_name, field)
    return None if r is None else r.mask_for(role)


def render_markdown() -> str:
    """docs/authorisation.md: the matrix as tables (kept equal to the file by a test)."""
    lines = [
        "# Authorisation matrix",
        "",
        "Generated from `api/permissions.py` (the one place it is enforced); a test keeps",
        "this file equal to the module. ✓ = readable, `mask` = readable masked,",
        "— = refused (the whole request is rejected with HTTP 403 before it runs).",
        "Roles come from the API key (`Authorization: Bearer …`); no key = `public`.",
        "",
        "Masks: `province` = an ID number cut to its first two digits "
        "(`44****************`); `phone` = all but the last four digits hidden; "
        "`person_name` = a natural person's name cut to the surname (`王＊`).",
        "The graph never holds an ID number in clear: signed-in roles other than regulators",
        "see the 4+4 mask the resolver stores (`4407**********2957`).",
        "",
        "Structural types open to whoever reaches them: " + ", ".join(sorted(OPEN_TYPES)) + ".",
        "The public reaches a `Person` only through `Enterprise.legalRepresentative`;",
        "`search` returns persons only to signed-in roles.",
        "",
    ]
    for type_name, fields in MATRIX.items():
        lines += [f"## {type_name}", "", "| field | " + " | ".join(ROLES) + " |"]
        lines.append("|---|" + "---|" * len(ROLES))
        for field, r in fields.items():
            cells = []
            for role in ROLES:
                if role not in r.roles:
                    cells.append("—")
                else:
                    m = r.mask_for(role)
                    cells.append(f"mask `{m}`" if m else "✓")
            lines.append(f"| `{field}` | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
