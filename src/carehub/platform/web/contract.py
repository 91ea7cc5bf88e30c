"""The OpenAPI contract and its browsable page, for callers who are signed in or hold an API token.

Everything but the health check needs authentication, the contract included: ``/api/v1/openapi.json``
answers a bearer token (a roster token too: its rostering system reads the contract it implements) or a
signed-in browser; ``/docs`` is a page, so anonymous visitors are sent to sign in first.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from carehub.platform.auth.actor import Actor
from carehub.platform.web.deps import ApiActor, ContainerDep, api_actor, page_actor

OPENAPI_PATH = "/api/v1/openapi.json"
DOCS_PATH = "/docs"

router = APIRouter(include_in_schema=False)


def _reader(request: Request, container: ContainerDep) -> Actor:
    """A bearer token (as on the API) or, for a browser, the signed-in user (else: to the sign-in page)."""
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return api_actor(request, container)
    return page_actor(request, container)


@router.get(OPENAPI_PATH)
def openapi_contract(request: Request, _actor: ApiActor) -> dict[str, Any]:
    """The OpenAPI 3 contract of every API route."""
    contract: dict[str, Any] = request.app.openapi()
    return contract


@router.get(DOCS_PATH)
def browsable_contract(_actor: Annotated[Actor, Depends(_reader)]) -> HTMLResponse:
    """The contract as a browsable page."""
    return get_swagger_ui_html(openapi_url=OPENAPI_PATH, title="Carehub API")
