"""Shared FastAPI dependencies: the container, and who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from carehub.bootstrap import Container
from carehub.platform.auth import permissions
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import Actor
from carehub.platform.errors import AuthenticationRequired

SESSION_USER = "uid"


def get_container(request: Request) -> Container:
    """The composition root's container, set on the app at start."""
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def session_actor(request: Request, container: ContainerDep) -> Actor | None:
    """The signed-in user of the browser session, if any."""
    uid = request.session.get(SESSION_USER)
    if not isinstance(uid, int):
        return None
    actor = auth.actor_for_user_id(container.db, uid)
    if actor is None:
        request.session.clear()
    return actor


def api_actor(request: Request, container: ContainerDep) -> Actor:
    """The caller of an API endpoint: a bearer token, or (for reads only) a browser session.

    A roster token may call only the routes of :data:`carehub.platform.auth.permissions.TOKEN_ROUTES` (its
    environment's roster, explain, status): any other is refused here, before its service runs. An
    admin-scoped token goes wherever a tenant administrator may (its services check it as one).
    """
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = auth.actor_for_token(container.db, header[7:].strip())
        if token.is_admin:
            return token
        route = request.scope.get("route")
        refused = permissions.token_refusal(request.method, getattr(route, "path", request.url.path))
        if refused is not None:
            raise refused
        return token
    if request.method in ("GET", "HEAD"):
        actor = session_actor(request, container)
        if actor is not None:
            return actor
    raise AuthenticationRequired("send 'Authorization: Bearer <API token>' (create one with 'carehub token create')")


ApiActor = Annotated[Actor, Depends(api_actor)]


class SignInRequired(Exception):
    """Raised by page dependencies when nobody is signed in; answered with a redirect."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def page_actor(request: Request, container: ContainerDep) -> Actor:
    """The signed-in user of a page; sends everyone else to sign in."""
    actor = session_actor(request, container)
    if actor is None:
        raise SignInRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    request.state.actor = actor
    return actor


PageActor = Annotated[Actor, Depends(page_actor)]
