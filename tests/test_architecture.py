"""The import rules of docs/architecture.md, checked by parsing every module of src/carehub with ``ast``.

(a) ``carehub.platform`` imports no capability and not the composition root or
    entry points (``carehub.app``, ``carehub.bootstrap``, ``carehub.cli``).
    Exceptions: ``platform/web/deps.py`` imports ``carehub.bootstrap`` for the
    ``Container`` type; the Alembic environment (``platform/migrations``) imports
    ``carehub.tables``, which gathers every table for migrations.
(b) Every ``domain`` package imports only the standard library and its own
    capability's domain: no SQLAlchemy, FastAPI, pydantic, httpx, no platform.
(c) A capability never imports another capability's ``tables``; capabilities
    talk through service calls.
(d) Entry points (``api.py``, ``web.py``, ``cli.py`` of each capability, and the
    top-level ``cli.py`` and ``app.py``) import neither SQLAlchemy nor any
    ``tables`` module: they call services.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "carehub"
CAPABILITIES = ("roster", "publishing", "tenancy", "commissioning", "funding", "demo")
ENTRY_POINT_FILES = ("api", "web", "cli")
THIRD_PARTY_FRAMEWORKS = ("sqlalchemy", "fastapi", "pydantic", "pydantic_settings", "httpx", "starlette", "alembic")


@dataclass(frozen=True)
class Import:
    """One imported module name, where it is imported."""

    module: str  # the importing module, e.g. carehub.roster.api
    target: str  # the imported module, e.g. carehub.roster.service.changes
    line: int

    def __str__(self) -> str:
        return f"{self.module} (line {self.line}) imports {self.target}"


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, *, is_package: bool = False) -> Iterator[Import]:
    """Every module ``source`` imports, anywhere in it (functions too), with relative imports resolved.

    ``from a.b import c`` yields ``a.b`` and ``a.b.c`` (``c`` may be a submodule).
    """
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, node.module] if node.module else base_parts)
            else:
                base = node.module or ""
            yield Import(module, base, node.lineno)
            for alias in node.names:
                if alias.name != "*":
                    yield Import(module, f"{base}.{alias.name}", node.lineno)


def all_imports(src: Path = SRC) -> list[Import]:
    found: list[Import] = []
    for path in sorted((src / "carehub").rglob("*.py")):
        name = module_name(path, src)
        found.extend(imports_of(path.read_text(encoding="utf-8"), name, is_package=path.name == "__init__.py"))
    return found


def _within(target: str, package: str) -> bool:
    return target == package or target.startswith(package + ".")


def _capability_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "carehub" and parts[1] in CAPABILITIES else None


def _is_tables(target: str) -> bool:
    return target.startswith("carehub") and target.rsplit(".", maxsplit=1)[-1] == "tables"


def _report(bad: list[Import]) -> list[str]:
    """Sorted, with ``from a import b`` reported once (as ``a``) when ``a`` itself breaks the rule."""
    keys = {(i.module, i.line, i.target) for i in bad}
    kept = {k for k in keys if not any(o[:2] == k[:2] and k[2].startswith(o[2] + ".") for o in keys)}
    return sorted(f"{m} (line {line}) imports {t}" for m, line, t in kept)


def platform_violations(imports: list[Import]) -> list[str]:
    """Rule (a)."""
    forbidden = [f"carehub.{c}" for c in CAPABILITIES] + ["carehub.app", "carehub.bootstrap", "carehub.cli"]
    bad = []
    for imp in imports:
        if not _within(imp.module, "carehub.platform"):
            continue
        if imp.module == "carehub.platform.web.deps" and _within(imp.target, "carehub.bootstrap"):
            continue
        if _within(imp.target, "carehub.tables") and not _within(imp.module, "carehub.platform.migrations"):
            bad.append(imp)
        if any(_within(imp.target, f) for f in forbidden):
            bad.append(imp)
    return _report(bad)


def domain_violations(imports: list[Import]) -> list[str]:
    """Rule (b)."""
    bad = []
    for imp in imports:
        capability = _capability_of(imp.module)
        if capability is None or not _within(imp.module, f"carehub.{capability}.domain"):
            continue
        top = imp.target.split(".")[0]
        if top in sys.stdlib_module_names or _within(imp.target, f"carehub.{capability}.domain"):
            continue
        bad.append(imp)
    return _report(bad)


def cross_tables_violations(imports: list[Import]) -> list[str]:
    """Rule (c)."""
    bad = []
    for imp in imports:
        own = _capability_of(imp.module)
        other = _capability_of(imp.target)
        if own and other and own != other and _is_tables(imp.target):
            bad.append(imp)
    return _report(bad)


def entry_point_violations(imports: list[Import]) -> list[str]:
    """Rule (d)."""
    entry_points = {f"carehub.{c}.{f}" for c in CAPABILITIES for f in ENTRY_POINT_FILES} | {
        "carehub.cli",
        "carehub.app",
    }
    bad = []
    for imp in imports:
        if imp.module not in entry_points:
            continue
        if _within(imp.target, "sqlalchemy") or _is_tables(imp.target):
            bad.append(imp)
    return _report(bad)


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    found = all_imports()
    modules = {i.module for i in found}
    # The scan must see the code it guards, or every rule passes vacuously.
    assert {"carehub.roster.api", "carehub.roster.domain.rules", "carehub.platform.db", "carehub.cli"} <= modules
    return found


def test_platform_imports_no_capability_and_no_entry_point(imports: list[Import]) -> None:
    assert platform_violations(imports) == []


def test_domain_packages_import_only_the_standard_library_and_their_own_domain(imports: list[Import]) -> None:
    assert domain_violations(imports) == []


def test_a_capability_never_imports_another_capabilitys_tables(imports: list[Import]) -> None:
    assert cross_tables_violations(imports) == []


def test_entry_points_import_neither_sqlalchemy_nor_tables(imports: list[Import]) -> None:
    assert entry_point_violations(imports) == []


def test_every_domain_module_is_importable_without_third_party_frameworks() -> None:
    """Rule (b) at run time: the domain imports with the frameworks made unimportable."""
    domains = sorted(
        module_name(p) for c in CAPABILITIES for p in (PACKAGE / c / "domain").rglob("*.py") if (PACKAGE / c).exists()
    )
    assert "carehub.roster.domain.rules" in domains
    code = (
        "import sys\n"
        f"for name in {list(THIRD_PARTY_FRAMEWORKS)!r}:\n"
        "    sys.modules[name] = None\n"
        f"for name in {domains!r}:\n"
        "    __import__(name)\n"
    )
    import subprocess  # noqa: PLC0415 - only this test starts a process

    result = subprocess.run(  # noqa: S603 - our own interpreter, our own code
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env={"PYTHONPATH": str(SRC)}
    )
    assert result.returncode == 0, result.stderr


# The checker itself must catch what it is for.


def _scan(files: dict[str, str], tmp_path: Path) -> list[Import]:
    for rel, source in files.items():
        path = tmp_path / "carehub" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return all_imports(tmp_path)


def test_the_checker_catches_each_kind_of_violation(tmp_path: Path) -> None:
    found = _scan(
        {
            "platform/db.py": "from carehub.roster import service\n",
            "platform/web/deps.py": "from carehub.bootstrap import Container\n",
            "platform/audit.py": "def f():\n    from carehub import app\n",
            "roster/domain/rules.py": "import sqlalchemy\nfrom ..domain import kinds\nfrom carehub.platform import db\n",  # noqa: E501
            "roster/domain/kinds.py": "from datetime import date\nfrom . import rules\n",
            "roster/service/x.py": "from carehub.tenancy.tables import Tenant\nfrom carehub.roster.tables import V\n",
            "publishing/service.py": "from carehub.roster import tables\n",
            "roster/api.py": "from sqlalchemy import select\n",
            "roster/web.py": "from carehub.roster.tables import Visit\n",
            "cli.py": "import carehub.tenancy.tables\n",
        },
        tmp_path,
    )
    assert platform_violations(found) == [
        "carehub.platform.audit (line 2) imports carehub.app",
        "carehub.platform.db (line 1) imports carehub.roster",
    ]
    assert domain_violations(found) == [
        "carehub.roster.domain.rules (line 1) imports sqlalchemy",
        "carehub.roster.domain.rules (line 3) imports carehub.platform",
    ]
    assert cross_tables_violations(found) == [
        "carehub.publishing.service (line 1) imports carehub.roster.tables",
        "carehub.roster.service.x (line 1) imports carehub.tenancy.tables",
    ]
    assert entry_point_violations(found) == [
        "carehub.cli (line 1) imports carehub.tenancy.tables",
        "carehub.roster.api (line 1) imports sqlalchemy",
        "carehub.roster.web (line 1) imports carehub.roster.tables",
    ]


def test_relative_imports_resolve_to_absolute_names() -> None:
    found = {
        i.target
        for i in imports_of("from . import rules\nfrom ..service import changes\n", "carehub.roster.domain.kinds")
    }
    assert found == {
        "carehub.roster.domain",
        "carehub.roster.domain.rules",
        "carehub.roster.service",
        "carehub.roster.service.changes",
    }
    in_package = {i.target for i in imports_of("from . import kinds\n", "carehub.roster.domain", is_package=True)}
    assert in_package == {"carehub.roster.domain", "carehub.roster.domain.kinds"}
