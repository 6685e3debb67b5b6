"""``POST /webhooks/alertmanager`` and ``POST /webhooks/pagerduty`` straight to their handlers.

At hundreds of deliveries a second, FastAPI's way to a handler (matching through the included
routers, the dependency solver, its request and exception wrappers) cost the event loop about
as much CPU per delivery as the handler itself. This pure ASGI middleware hands exactly those
two requests (method and path) to the same handler functions the routes hold
(``intake_routes.webhook_handlers``); everything else goes on to the app. It sits inside the
outer middleware (an unexpected error is still a 500, the body limit and telemetry still
apply); the handlers raise no ``HTTPException`` and opsbot registers no exception handler, so
skipping FastAPI's ``ExceptionMiddleware`` changes no answer. The routes stay registered: the
same paths with another method still get FastAPI's 405.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.runtime import Runtime
from bot.web.intake_routes import Handler, webhook_handlers


class WebhookFastPath:
    def __init__(self, app: ASGIApp, *, handlers: dict[str, Handler]) -> None:
        self.app = app
        self.handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self.handlers.get(scope["path"])
            if handler is not None:
                response = await handler(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install_webhook_fast_path(app: FastAPI, rt: Runtime) -> None:
    app.add_middleware(WebhookFastPath, handlers=webhook_handlers(rt))
