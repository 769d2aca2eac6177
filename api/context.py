"""What every resolver gets as ``info.context``: the caller, the graph, per-request loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import GraphQLResolveInfo

from api.graphio import ApiGraph
from api.keys import ApiKey
from api.settings import ApiSettings

if TYPE_CHECKING:
    from api.services import Services


@dataclass(slots=True)
class RequestContext:
    request_id: str
    role: str
    key: ApiKey | None
    graph: ApiGraph
    settings: ApiSettings
    services: Services
    loaders: dict[str, Any] = field(default_factory=dict)
    #: Golden IDs of every entity the response carried (for the audit log).
    returned_ids: set[str] = field(default_factory=set)
    #: The app's enterprise-name search index (api.enterprise.name_index.NameIndexHolder).
    name_index: Any = None

    def loader(self, name: str, make: Any) -> Any:
        """The request's loader called ``name`` (made on first use: caches are per request)."""
        if name not in self.loaders:
            self.loaders[name] = make(self.graph)
        return self.loaders[name]

    @property
    def who(self) -> str:
        """Who acts, as kept with judgements and jobs: the key's name and id."""
        return f"{self.key.name} (key {self.key.key_id})" if self.key else "public"


def ctx(info: GraphQLResolveInfo) -> RequestContext:
    c = info.context
    assert isinstance(c, RequestContext)
    return c
