"""The environment a signed-in user's page works in: chosen with ``?environment=ID``, remembered in the session.

One function for every capability's pages (:func:`page_environment`). Which environments a user may work in,
and which one a page gets, is the tenancy's rule (``carehub.tenancy.service.page_environment``): the pages pass
it in, as the platform does not import capabilities.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any, Protocol, TypeVar

from fastapi import Request

from carehub.platform.auth.actor import Actor
from carehub.platform.db import Database
from carehub.platform.web.templating import set_shell

QUERY = "environment"


class Environment(Protocol):
    """What the shell needs of an environment."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def paused(self) -> bool: ...


E_co = TypeVar("E_co", bound=Environment, covariant=True)


class Place(Protocol[E_co]):
    """A page's environment, the ones its user may switch to, and their tenant's name."""

    @property
    def environment(self) -> E_co: ...
    @property
    def choices(self) -> Sequence[E_co]: ...
    @property
    def tenant_name(self) -> str | None: ...


class Resolver(Protocol[E_co]):
    """The tenancy's rule: the page's environment for ``actor``, given ``?environment=`` and the session."""

    def __call__(
        self, db: Database, actor: Actor, *, chosen: str | None, remembered: MutableMapping[str, Any]
    ) -> Place[E_co]: ...


def page_environment(request: Request, resolve: Resolver[E_co], db: Database, actor: Actor) -> E_co:
    """The environment of this page (``?environment=ID`` chooses it and the session remembers it); sets the shell.

    The shell gets the environment's time zone, the tenant's name, and the environments to switch between.
    """
    place = resolve(db, actor, chosen=request.query_params.get(QUERY), remembered=request.session)
    env = place.environment
    set_shell(
        request,
        timezone=env.timezone,
        tenant_name=place.tenant_name,
        environment_id=env.id,
        environments=place.choices,
    )
    return env
