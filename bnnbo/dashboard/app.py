"""The dashboard's web app (Starlette): three pages, the JSON behind them, its own static files.

Pages are Jinja2 templates with autoescaping, so labels read from the store are always text.
Each page is a skeleton plus a "body" fragment; the page's script polls the JSON endpoint,
redraws the Plotly figures and swaps in a fresh fragment when the study changed. Plotly's
JavaScript comes from the installed ``plotly`` package and is served here: the page makes no
request to any other origin (the Content-Security-Policy header says so to the browser too).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from bnnbo.dashboard.data import DashboardData, NotFound
from bnnbo.errors import ConfigError, UnavailableError
from bnnbo.report.html import CSS as REPORT_CSS
from bnnbo.report.html import safe_url
from bnnbo.storage import Store

HERE = Path(__file__).parent
#: same-origin only; inline styles for Plotly's SVG, no inline scripts
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def plotly_js() -> Path:
    """plotly.min.js as shipped inside the ``plotly`` Python package."""
    try:
        import plotly
    except ImportError:
        raise UnavailableError("the dashboard needs plotly: pip install 'bnnbo[dashboard]'") from None
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise UnavailableError(
            f"plotly {plotly.__version__} has no package_data/plotly.min.js; pip install 'plotly>=5'"
        )
    return path


def create_app(
    url: str | os.PathLike | Store | None = None, refresh: float = 5.0, allowed_hosts: list[str] | None = None
) -> Starlette:
    """The app over a store (opened read-only unless a Store is given).

    Args:
        refresh: seconds between the pages' live updates (0: no live update).
        allowed_hosts: Host headers to answer (``None``: any); a localhost server passes its own
            names, so a web page elsewhere cannot reach it through DNS rebinding.
    """
    store = url if isinstance(url, Store) else Store(url, readonly=True)
    data = DashboardData(store)
    plotly_path = plotly_js()
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))
    env.filters["q"] = lambda s: quote(str(s), safe="")
    env.filters["pretty"] = lambda v: json.dumps(v, indent=1, sort_keys=True)
    templates = Jinja2Templates(env=env)
    common = {"refresh": refresh, "store": safe_url(store.url)}

    def render(request: Request, name: str, context: dict[str, Any], code: int = 200) -> Response:
        return templates.TemplateResponse(request, name, {**common, **context}, status_code=code, headers=HEADERS)

    def guarded(kind: str, fn: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """Missing study / run -> 404; a store that cannot be read right now -> 503; said in words."""

        def endpoint(request: Request) -> Response:
            try:
                return fn(request)
            except (NotFound, ConfigError, DBAPIError) as exc:
                code = 404 if isinstance(exc, NotFound) else 400 if isinstance(exc, ConfigError) else 503
                text = str(exc) if not isinstance(exc, DBAPIError) else f"cannot read the store: {exc.orig}"
                if kind == "json":
                    return JSONResponse({"error": text}, status_code=code, headers=HEADERS)
                return render(request, "error.html", {"message": text, "kind": "error"}, code)

        return endpoint

    def studies_page(request: Request) -> Response:
        return render(
            request,
            "studies.html",
            {"kind": "studies", "studies": data.studies(), "api": "/api/studies", "fragment": "/fragment/studies"},
        )

    def studies_fragment(request: Request) -> Response:
        return render(request, "studies_body.html", {"studies": data.studies()})

    def study_context(request: Request) -> dict[str, Any]:
        name = request.path_params["name"]
        d = data.study(name)
        return {
            "kind": "study",
            "d": d,
            "version": d["version"],
            "api": f"/api/study/{quote(name, safe='')}",
            "fragment": f"/fragment/study/{quote(name, safe='')}",
        }

    def run_context(request: Request) -> dict[str, Any]:
        run_id = request.path_params["run_id"]
        d = data.run(run_id)
        return {
            "kind": "run",
            "d": d,
            "version": "",
            "api": f"/api/run/{run_id}",
            "fragment": f"/fragment/run/{run_id}",
        }

    def json_response(value: Any) -> Response:
        return JSONResponse(value, headers={**HEADERS, "Cache-Control": "no-store"})

    def plotly(request: Request) -> Response:
        return FileResponse(
            plotly_path, media_type="text/javascript", headers={**HEADERS, "Cache-Control": "public, max-age=86400"}
        )

    def report_css(request: Request) -> Response:
        return Response(REPORT_CSS, media_type="text/css", headers=HEADERS)

    routes = [
        Route("/", guarded("html", studies_page)),
        Route("/fragment/studies", guarded("html", studies_fragment)),
        Route("/api/studies", guarded("json", lambda r: json_response(data.studies()))),
        Route("/study/{name:path}", guarded("html", lambda r: render(r, "study.html", study_context(r)))),
        Route("/fragment/study/{name:path}", guarded("html", lambda r: render(r, "study_body.html", study_context(r)))),
        Route("/api/study/{name:path}", guarded("json", lambda r: json_response(data.study(r.path_params["name"])))),
        Route("/run/{run_id:int}", guarded("html", lambda r: render(r, "run.html", run_context(r)))),
        Route("/fragment/run/{run_id:int}", guarded("html", lambda r: render(r, "run_body.html", run_context(r)))),
        Route("/api/run/{run_id:int}", guarded("json", lambda r: json_response(data.run(r.path_params["run_id"])))),
        Route("/static/plotly.min.js", plotly),
        Route("/static/report.css", report_css),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)] if allowed_hosts else []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        if store is not url:
            store.close()

    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.data = data
    return app
