"""OpenTelemetry tracing, switched on by ``TOKEND_OTEL__ENDPOINT``."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from tokend.obs.settings import OtelSettings


def configure_tracing(settings: OtelSettings, app: FastAPI, version: str) -> bool:
    """Trace FastAPI, httpx and Redis; False (and no cost) when disabled."""
    if not settings.endpoint:
        return False
    # Imported here: the SDK and instrumentations cost start-up time nobody needs untraced.
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter,
    )
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": settings.service_name, "service.version": version}
        )
    )
    endpoint = settings.endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls="health,metrics"
    )
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    RedisInstrumentor().instrument(tracer_provider=provider)
    return True


def trace_engine(settings: OtelSettings, engine: AsyncEngine) -> None:
    """Trace SQL statements of ``engine`` once tracing is configured."""
    if not settings.endpoint:
        return
    from opentelemetry import trace
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    SQLAlchemyInstrumentor().instrument(
        engine=engine.sync_engine, tracer_provider=trace.get_tracer_provider()
    )
