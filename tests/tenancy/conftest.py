"""Fixtures of environment tests: the world's primary environment publishing, and a standalone tenant."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from carehub import bootstrap
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import Actor
from tests.conftest import World
from tests.tenancy.support import Standalone, seed, standalone


@pytest.fixture
def admin(container: bootstrap.Container, world: World) -> Actor:
    """The world's tenant administrator, as signed in."""
    return auth.authenticate(container.db, "admin", "correct horse battery")


@pytest.fixture
def primary(api: TestClient, container: bootstrap.Container, world: World) -> TestClient:
    """The world's primary environment with its roster publishing (the same ids the standalone tenant uses)."""
    seed(api, container.db, world.env.id)
    return api


@pytest.fixture
def southwest(container: bootstrap.Container, primary: TestClient) -> Standalone:
    """The standalone tenant SouthWest Care, with a published worker W1 and her linked phone."""
    return standalone(container)


@pytest.fixture
def admin_api(container: bootstrap.Container, world: World) -> Iterator[TestClient]:
    """An HTTP client signed in as the tenant administrator (a browser session)."""
    from carehub.app import create_app  # noqa: PLC0415

    with TestClient(create_app(container)) as client:
        page = client.get("/sign-in")
        assert page.status_code == 200
        yield client
