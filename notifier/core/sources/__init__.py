"""Order sources, one module per protocol, all with the `Source` interface."""

from __future__ import annotations

from notifier.core.reconnect import StatusCallback
from notifier.core.secrets import SecretStore
from notifier.core.settings import Settings
from notifier.core.sources.base import Source, SourceHost


def source_class(protocol: str) -> type[Source]:
    # Imported on demand so a shop using one protocol never loads the others' code.
    if protocol == "skytakeout":
        from notifier.core.sources.skytakeout import SkyTakeOutSource

        return SkyTakeOutSource
    if protocol == "json":
        from notifier.core.sources.json_mapping import JsonMappingSource

        return JsonMappingSource
    if protocol == "notifier":
        from notifier.core.sources.notifier_stream import NotifierStreamSource

        return NotifierStreamSource
    if protocol == "amqp":
        from notifier.core.sources.amqp import AmqpSource

        return AmqpSource
    raise ValueError(f"unknown protocol {protocol!r}")


def create_source(
    settings: Settings, host: SourceHost, on_status: StatusCallback, secrets: SecretStore
) -> Source:
    return source_class(settings["connection.protocol"])(settings, host, on_status, secrets)


__all__ = ["Source", "SourceHost", "StatusCallback", "create_source", "source_class"]
