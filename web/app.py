"""The FastAPI app: pages rendered on the server (Jinja), working without JavaScript.
``create_app()`` is what ``bidbell web`` serves; it reads the same database as the pipeline
(BIDBELL_DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from web import account, admin, feeds, pages
from web.security import Limits, security_headers
from web.templating import render

STATIC = Path(__file__).resolve().parent / "static"


def create_app() -> FastAPI:
    app = FastAPI(
        title="Bidbell",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # pages, not an API: nothing to document to the world
    )
    app.state.limits = Limits()
    app.middleware("http")(security_headers)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (pages, feeds, account, admin):
        app.include_router(module.router)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return render(request, "not_found.html", 404, title="Page not found")
        return render(
            request, "error.html", exc.status_code, title="Something went wrong", detail=exc.detail
        )

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        return render(request, "not_found.html", 404, title="Page not found")

    return app
