"""Opening a graph store with one-line errors that say what is wrong and what to do.

:func:`graph.store.open_store` builds a client; this module also checks that the server
answers, accepts the password and holds the graph, and turns each failure into a
:class:`GraphStoreError` subclass whose message is fit to show a user as it is (no
traceback, no driver jargon, never the password). Query-time limits of the embedded server
(time, memory) are translated the same way by :func:`explain_query_error`.
"""

from __future__ import annotations

from dataclasses import replace

from graph.store import FalkorStore, GraphStoreError, GraphURI, Neo4jStore, parse_uri


class GraphUnavailable(GraphStoreError):
    """The server cannot be reached (down, not started, wrong host or port)."""


class GraphAuthError(GraphStoreError):
    """The server refused the credentials."""


class GraphMissing(GraphStoreError):
    """The server runs but holds no graph (database) of that name."""


class QueryLimitError(GraphStoreError):
    """A query hit the server's time or memory limit."""


def _where(uri: GraphURI) -> str:
    return f"{uri.scheme}://{uri.host}:{uri.port}"


def open_checked(
    uri: str | GraphURI, *, password: str | None = None, require_graph: bool = False
) -> FalkorStore | Neo4jStore:
    """Open the store a URI names and check it answers (and holds the graph when
    ``require_graph``); ``password`` replaces any password in the URI."""
    parsed = uri if isinstance(uri, GraphURI) else parse_uri(uri)
    if password is not None:
        parsed = replace(parsed, password=password)
    if parsed.scheme == "falkordb":
        return _open_falkor(parsed, require_graph)
    return _open_neo4j(parsed, require_graph)


def _open_falkor(uri: GraphURI, require_graph: bool) -> FalkorStore:
    from redis.exceptions import AuthenticationError, ConnectionError, RedisError, ResponseError
    from redis.exceptions import TimeoutError as RedisTimeout

    where = _where(uri)
    try:
        store = FalkorStore(uri)  # the client talks to the server already here
        graphs = store.db.list_graphs()
    except AuthenticationError as exc:
        raise GraphAuthError(_auth_message(where, uri.password is not None)) from exc
    except ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            raise GraphAuthError(_auth_message(where, uri.password is not None)) from exc
        raise GraphStoreError(f"graph server at {where} answered: {exc}") from exc
    except (ConnectionError, RedisTimeout, OSError) as exc:
        raise GraphUnavailable(
            f"cannot reach the graph server at {where} ({_reason(exc)}): start it with "
            "`credgraph graph start --data-dir DIR` or check the host and port of --uri"
        ) from exc
    except RedisError as exc:
        raise GraphStoreError(f"graph server at {where}: {exc}") from exc
    if require_graph and uri.database not in graphs:
        store.close()
        have = ", ".join(sorted(str(g) for g in graphs)) or "none"
        raise GraphMissing(
            f"no graph {uri.database!r} on {where} (graphs there: {have}): load a run into it "
            "with `credgraph load RUN_DIR`, or name an existing graph in the URI"
        )
    return store


def _open_neo4j(uri: GraphURI, require_graph: bool) -> Neo4jStore:
    import neo4j

    where = _where(uri)
    store = Neo4jStore(uri)
    try:
        store.driver.verify_connectivity()
        if require_graph:
            store.read("RETURN 1 AS ok")
    except neo4j.exceptions.AuthError as exc:
        store.close()
        raise GraphAuthError(_auth_message(where, uri.password is not None)) from exc
    except neo4j.exceptions.ServiceUnavailable as exc:
        store.close()
        raise GraphUnavailable(
            f"cannot reach the Neo4j server at {where}: check that it runs and the host and "
            "port of --uri"
        ) from exc
    except GraphStoreError as exc:
        store.close()
        if "DatabaseNotFound" in str(exc):
            raise GraphMissing(
                f"no database {uri.database!r} on {where}: create it or name another in the URI"
            ) from exc
        raise
    return store


def _auth_message(where: str, had_password: bool) -> str:
    if not had_password:
        return (
            f"the graph server at {where} requires a password: omit --uri to use the embedded "
            "server of --data-dir, or pass --password-file FILE or set CREDGRAPH_GRAPH_PASSWORD"
        )
    return (
        f"the graph server at {where} refused the password: use the password of the server's "
        "data directory (omit --uri and pass --data-dir), or fix --password-file / "
        "CREDGRAPH_GRAPH_PASSWORD"
    )


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused"
    if "timed out" in text.lower() or "timeout" in text.lower():
        return "timed out"
    return text.split(".")[0][:120] or type(exc).__name__


def explain_query_error(exc: GraphStoreError) -> GraphStoreError:
    """The error a user should see for a failed query: time and memory limits and a lost
    server get their own one-line message; anything else is returned unchanged."""
    text = str(exc)
    if "timed out" in text.lower() and "Query" in text:
        return QueryLimitError(
            "the query ran past the graph server's time limit: narrow it (WHERE, LIMIT) or start "
            "the server with a larger `credgraph graph start --query-timeout SECONDS`"
        )
    if "mem consumption exceeded capacity" in text:
        return QueryLimitError(
            "the query needed more memory than the graph server allows one query: narrow it "
            "(WHERE, LIMIT, smaller ranges) or start the server with a larger "
            "`credgraph graph start --query-memory MB`"
        )
    if "Connection" in text and ("closed" in text or "refused" in text or "reset" in text):
        return GraphUnavailable(
            "lost the connection to the graph server: check `credgraph graph status`"
        )
    return exc
