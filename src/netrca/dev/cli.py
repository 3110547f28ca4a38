"""``netrca dev …`` commands: developer tools (the fake LLM provider server)."""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Annotated

import typer

from netrca.dev.faults import FAULTS

__all__ = ["dev_app"]

dev_app = typer.Typer(help="Developer tools.", no_args_is_help=True)


@dev_app.command("fake-llm")
def fake_llm(
    port: Annotated[int, typer.Option(help="Port (0 = any free port).")] = 8089,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    faults: Annotated[
        str,
        typer.Option(
            help="Faults, KIND=RATE (per request) or KIND@N (request N), comma-separated. "
            f"Kinds: {', '.join(FAULTS)}."
        ),
    ] = "",
    seed: Annotated[int, typer.Option(help="Seed for drawing faults.")] = 0,
    retry_delay: Annotated[float, typer.Option(help="Seconds advised on 429/503.")] = 1.0,
    slow_seconds: Annotated[float, typer.Option(help="Delay of a 'slow' reply.")] = 2.0,
    max_items: Annotated[
        int, typer.Option(help="Cut off (MAX_TOKENS) batches larger than this; 0 = never.")
    ] = 0,
    api_key: Annotated[
        str | None, typer.Option(help="Accept only this key (others get 401).")
    ] = None,
    obey_injections: Annotated[
        bool, typer.Option(help="Answer injected instructions like a naive model.")
    ] = True,
) -> None:
    """Serve a fake Gemini / OpenAI-compatible / Ollama endpoint until Ctrl-C."""
    from netrca.dev.fake_llm import FakeLLMConfig, FakeLLMServer, FaultPlan

    config = FakeLLMConfig(
        faults=FaultPlan.parse(faults, seed),
        retry_delay=retry_delay,
        slow_seconds=slow_seconds,
        max_items=max_items,
        api_key=api_key,
        obey_injections=obey_injections,
    )
    server = FakeLLMServer(config, host=host, port=port)
    # serve on a background thread and let the main thread wait for SIGINT/SIGTERM: the
    # handler only sets an event, so a signal is honoured wherever it lands (a
    # KeyboardInterrupt raised inside the server's accept loop could leave it hanging)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    typer.echo(
        f"fake LLM server on {server.url}  (Gemini: /v1beta/models/MODEL:generateContent, "
        "OpenAI: /v1/chat/completions, Ollama: /api/chat, stats: GET /_stats)\n"
        f"use it: NETRCA_LLM_BASE_URL={server.url} netrca analyze DIR --analyzer gemini",
        err=True,
    )
    try:
        while not stop.wait(0.2):
            pass
    finally:
        server.stop()
        stats = server.stats()
        stats.pop("requests_log")
        sys.stderr.write(json.dumps(stats) + "\n")
