"""The web application: every capability's routers mounted on one FastAPI app."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from carehub import bootstrap
from carehub.platform.delivery import api as delivery_api
from carehub.platform.delivery import web as delivery_web
from carehub.platform.settings import Settings
from carehub.platform.web import contract, errors, shell
from carehub.platform.web.deps import SignInRequired
from carehub.platform.web.templating import render_error_page
from carehub.publishing import api as publishing_api
from carehub.publishing import web as publishing_web
from carehub.publishing.mobile import api as mobile_api
from carehub.publishing.mobile import web as mobile_web
from carehub.roster import api as roster_api
from carehub.roster import web as roster_web
from carehub.tenancy import api as tenancy_api
from carehub.tenancy import web as tenancy_web
from carehub.tenancy.access import api as access_api
from carehub.tenancy.access import web as access_web
from carehub.tenancy.forms import api as forms_api
from carehub.tenancy.forms import web as forms_web

STATIC = Path(__file__).parent / "platform" / "web" / "static"


def create_app(container: bootstrap.Container | None = None, settings: Settings | None = None) -> FastAPI:
    """Build the app around ``container`` (built from ``settings`` when omitted)."""
    container = container or bootstrap.build(settings)
    app = FastAPI(
        title="Carehub",
        version="1.0",
        summary="Open, immediate, explainable home-care integration.",
        description="Roster API for rostering systems. Authenticate with `Authorization: Bearer <API token>`.",
        # The contract and its page need authentication like everything else (platform/web/contract.py).
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.container = container
    app.add_middleware(
        SessionMiddleware,
        secret_key=container.settings.secret_key,
        session_cookie="carehub_session",
        max_age=container.settings.session_max_age_seconds,
        same_site="lax",
        https_only=container.settings.mode == "production",
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    errors.install(app, render_error_page)

    @app.exception_handler(SignInRequired)
    async def _sign_in(_request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/sign-in?next={quote(exc.next_path, safe='')}", status_code=303)

    app.include_router(shell.router)
    app.include_router(contract.router)
    app.include_router(roster_api.router)
    app.include_router(roster_web.router)
    app.include_router(publishing_api.router)
    app.include_router(publishing_web.router)
    publishing_web.add_navigation()
    app.include_router(mobile_api.device_router)
    app.include_router(mobile_api.staff_router)
    app.include_router(mobile_web.router)
    mobile_web.add_navigation()
    app.include_router(delivery_api.router)
    app.include_router(delivery_web.router)
    delivery_web.add_navigation()
    app.include_router(tenancy_api.router)
    app.include_router(tenancy_web.router)
    tenancy_web.add_navigation()
    app.include_router(access_api.router)
    app.include_router(access_web.router)
    access_web.add_navigation()
    app.include_router(forms_api.router)
    app.include_router(forms_web.router)
    forms_web.add_navigation()
    return app
