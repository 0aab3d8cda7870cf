"""Which MLflow run and server a :class:`~actlog.sinks.MlflowSink` writes to, and whether that
server answers: the experiment a new run goes in, tracking URIs compared, a TCP check before
each logging event (so an unreachable server costs one short wait, not MLflow's minutes of
retries per request), and which errors are a failed connection.

Example:
    ```python
    problem = unreachable("http://127.0.0.1:5000")  # None when the server takes connections
    ```
"""

from __future__ import annotations

import os
import socket
import urllib.parse
import urllib.request
from typing import Any

#: Seconds the reachability check before each logging event waits for a TCP connection.
PROBE_TIMEOUT = 5.0


def experiment_id_for(client: Any, name: str | None) -> str:
    """The id of the experiment a new run goes in: ``name`` (or ``$MLFLOW_EXPERIMENT_NAME``),
    created if missing; else ``$MLFLOW_EXPERIMENT_ID`` or the default experiment."""
    name = name or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if name:
        experiment = client.get_experiment_by_name(name)
        return experiment.experiment_id if experiment else client.create_experiment(name)
    return os.environ.get("MLFLOW_EXPERIMENT_ID") or "0"


def same_uri(a: str, b: str) -> bool:
    """Whether two tracking URIs name the same store."""
    return a.rstrip("/") == b.rstrip("/")


def unreachable(uri: str) -> OSError | None:
    """Why an ``http(s)`` tracking server does not take a TCP connection now, or None (it
    does, the URI is not ``http(s)``, or a proxy stands between)."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(
        parts.hostname
    ):
        return None  # the proxy is what we would reach
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=PROBE_TIMEOUT).close()
    except OSError as error:
        return error
    return None


def is_connection_error(error: BaseException) -> bool:
    """Whether ``error`` (or what it was raised from or during) is a failed connection."""
    import requests  # a dependency of mlflow

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, requests.exceptions.ConnectionError | requests.exceptions.Timeout
                      | ConnectionError | TimeoutError):  # fmt: skip
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
