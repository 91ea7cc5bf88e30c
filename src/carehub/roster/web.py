"""Roster pages: a browser for clients, workers and visits."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from carehub.platform.web.deps import PageActor

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(_actor: PageActor) -> Response:
    return RedirectResponse("/roster/visits", status_code=303)
