"""Forms, services and branch associations: reads scoped to the caller's branches, writes for administrators.

- A **form** is defined once per tenant under a stable key; every edit makes a
  new immutable **version** (:func:`do_update_form`); forms are archived, never
  deleted.
- A **service** groups forms; roster **branches** are associated with services.
  A branch sees the current versions of the forms of all its services (the
  union). A branch that needs its own set gets a **dedicated service**
  (:func:`do_create_dedicated_service`).
- Tenant administrators (and API tokens, and Carehub itself) edit; branch
  managers and coordinators read the forms and services of their branches;
  anything outside the caller's branches is not found. Care workers and devices
  use the mobile feed only (:func:`feed_forms`).

Every change is one ``do_*`` function: one transaction with its audit rows and
``forms.*`` outbox events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, insert, select
from sqlalchemy.orm import Session

from carehub.platform import audit, outbox
from carehub.platform.auth import permissions
from carehub.platform.auth.actor import Actor, Role
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.platform.errors import Conflict, InvalidInput, NotFound, PermissionDenied, RecordError
from carehub.roster.service.branches_of import branches_in
from carehub.tenancy.forms.domain.definitions import (
    FieldDef,
    Problem,
    field_changes,
    fields_json,
    form_ref,
    key_problems,
    name_problems,
    parse_fields,
    title_problems,
)
from carehub.tenancy.forms.tables import Form, FormVersion, Service, ServiceBranch, ServiceForm
from carehub.tenancy.service import environment_in
from carehub.tenancy.tables import Environment

STAFF_ROLES = frozenset({Role.ADMIN, Role.BRANCH_MANAGER, Role.COORDINATOR})
MAX_IMPORT = 500


# --------------------------------------------------------------------------- shapes


@dataclass(frozen=True, slots=True)
class FormVersionInfo:
    """One immutable version of a form."""

    key: str
    version: int
    title: str
    fields: list[dict[str, Any]]
    created_at: datetime
    created_by: str

    @property
    def ref(self) -> str:
        """``key@version``: how the mobile feed names it."""
        return form_ref(self.key, self.version)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of the API and the feed."""
        return {
            "id": self.ref,
            "key": self.key,
            "version": self.version,
            "title": self.title,
            "fields": self.fields,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }


@dataclass(frozen=True, slots=True)
class Named:
    """A reference to a service or a branch: id and name."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class FormInfo:
    """A form with its current version, the services that hold it and (detail) its history, newest first."""

    id: int
    key: str
    title: str
    current_version: int
    archived_at: datetime | None
    updated_at: datetime
    services: list[Named] = field(default_factory=list)
    current: FormVersionInfo | None = None
    versions: list[FormVersionInfo] = field(default_factory=list)

    @property
    def archived(self) -> bool:
        """Archived forms are kept but no branch sees them."""
        return self.archived_at is not None

    def as_dict(self, *, detail: bool = False) -> dict[str, Any]:
        """The JSON shape of the API."""
        out: dict[str, Any] = {
            "key": self.key,
            "title": self.title,
            "version": self.current_version,
            "id": form_ref(self.key, self.current_version),
            "archived": self.archived,
            "archived_at": self.archived_at,
            "updated_at": self.updated_at,
            "services": [{"id": s.id, "name": s.name} for s in self.services],
        }
        if self.current is not None:
            out["fields"] = self.current.fields
        if detail:
            out["versions"] = [v.as_dict() for v in self.versions]
        return out


@dataclass(frozen=True, slots=True)
class BranchInfo:
    """A roster branch as Carehub shows it (prefixed for an added environment), with its services."""

    id: int
    name: str
    external_id: str
    environment_id: int
    environment: str
    services: list[Named] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of the API."""
        return {
            "id": self.id,
            "name": self.name,
            "external_id": self.external_id,
            "environment_id": self.environment_id,
            "environment": self.environment,
            "services": [{"id": s.id, "name": s.name} for s in self.services],
        }


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """A service: its forms (current versions) and the branches associated with it (those the caller may see)."""

    id: int
    name: str
    dedicated_branch: Named | None
    archived_at: datetime | None
    updated_at: datetime
    forms: list[Named]
    form_keys: list[str]
    form_refs: list[str]
    branches: list[Named]

    @property
    def archived(self) -> bool:
        """An archived service gives no branch any form."""
        return self.archived_at is not None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of the API."""
        return {
            "id": self.id,
            "name": self.name,
            "dedicated_to_branch": None
            if self.dedicated_branch is None
            else {"id": self.dedicated_branch.id, "name": self.dedicated_branch.name},
            "archived": self.archived,
            "archived_at": self.archived_at,
            "updated_at": self.updated_at,
            "forms": [
                {"key": k, "title": f.name, "id": r}
                for k, f, r in zip(self.form_keys, self.forms, self.form_refs, strict=True)
            ],
            "branches": [{"id": b.id, "name": b.name} for b in self.branches],
        }


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """What importing one form did: created, updated (a new version) or unchanged."""

    key: str
    outcome: str
    version: int

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of the API and CLI."""
        return {
            "key": self.key,
            "outcome": self.outcome,
            "version": self.version,
            "id": form_ref(self.key, self.version),
        }


# --------------------------------------------------------------------------- access


def require_staff(actor: Actor) -> int:
    """The caller's tenant; care workers and devices (they use the mobile feed) and roster API tokens are refused."""
    if actor.is_roster_token:
        raise permissions.token_cannot("read or edit forms and services")
    if actor.kind == "device" or (actor.kind == "user" and actor.role not in STAFF_ROLES):
        raise PermissionDenied("forms and services are for staff: care workers see forms in the mobile app")
    if actor.tenant_id is None:
        raise NotFound("no tenant for this caller")
    return actor.tenant_id


def _require_admin(actor: Actor) -> int:
    tenant_id = require_staff(actor)
    if not actor.is_admin:
        raise PermissionDenied("forms, services and their branches are edited by tenant administrators")
    return tenant_id


def can_edit(actor: Actor) -> bool:
    """Whether the caller may edit forms, services and branch associations."""
    return actor.kind != "device" and actor.is_admin


def _invalid(message: str, problems: Sequence[Problem], record: str | None = None) -> InvalidInput:
    return InvalidInput(message, errors=[RecordError(None, record, p.field, p.value, p.expected) for p in problems])


# --------------------------------------------------------------------------- reads inside a session


def _branches(session: Session, tenant_id: int) -> dict[int, BranchInfo]:
    """The tenant's live roster branches, named as Carehub shows them."""
    envs = {
        e.id: environment_in(session, e.id)
        for e in session.scalars(select(Environment).where(Environment.tenant_id == tenant_id))
    }
    out = {}
    for b in branches_in(session, list(envs)):
        env = envs[b.environment_id]
        convention = env.convention
        name = convention.branch(b.name) if convention is not None else b.name
        out[b.id] = BranchInfo(b.id, name, b.external_id, b.environment_id, env.name)
    return out


def _visible_form_ids(session: Session, tenant_id: int, branch_ids: frozenset[int] | None) -> set[int] | None:
    """Forms the branches see (live forms of live services); None: every form of the tenant."""
    if branch_ids is None:
        return None
    rows = session.scalars(
        select(ServiceForm.form_id)
        .join(Service, Service.id == ServiceForm.service_id)
        .join(ServiceBranch, ServiceBranch.service_id == Service.id)
        .join(Form, Form.id == ServiceForm.form_id)
        .where(
            Service.tenant_id == tenant_id,
            Service.archived_at.is_(None),
            Form.archived_at.is_(None),
            ServiceBranch.branch_id.in_(sorted(branch_ids)),
        )
    )
    return set(rows)


def _form(session: Session, actor: Actor, tenant_id: int, key: str) -> Form:
    """The form ``key`` if the caller may see it; NotFound otherwise."""
    key = key.strip() if isinstance(key, str) else key
    row = session.scalar(select(Form).where(Form.tenant_id == tenant_id, Form.key == key))
    visible = _visible_form_ids(session, tenant_id, actor.branch_ids)
    if row is None or (visible is not None and row.id not in visible):
        raise NotFound(f"no form {key!r}")
    return row


def _version_info(key: str, v: FormVersion) -> FormVersionInfo:
    return FormVersionInfo(key, v.version, v.title, list(v.fields), v.created_at, v.created_by)


def _services_of_forms(session: Session, form_ids: Collection[int], tenant_id: int) -> dict[int, list[Named]]:
    out: dict[int, list[Named]] = defaultdict(list)
    if form_ids:
        rows = session.execute(
            select(ServiceForm.form_id, Service.id, Service.name)
            .join(Service, Service.id == ServiceForm.service_id)
            .where(
                ServiceForm.form_id.in_(sorted(form_ids)), Service.tenant_id == tenant_id, Service.archived_at.is_(None)
            )
            .order_by(Service.name)
        )
        for form_id, sid, name in rows:
            out[form_id].append(Named(sid, name))
    return out


def _form_info(
    f: Form,
    services: list[Named],
    current: FormVersionInfo | None = None,
    versions: list[FormVersionInfo] | None = None,
) -> FormInfo:
    return FormInfo(
        f.id, f.key, f.title, f.current_version, f.archived_at, f.updated_at, services, current, versions or []
    )


# --------------------------------------------------------------------------- form reads


def list_forms(
    db: Database, actor: Actor, *, include_archived: bool = False, branch_id: int | None = None
) -> list[FormInfo]:
    """The forms the caller sees, by title; ``branch_id``: only those that branch sees (in the caller's scope)."""
    tenant_id = require_staff(actor)
    with db.read() as session:
        stmt = select(Form).where(Form.tenant_id == tenant_id).order_by(Form.title, Form.key)
        if not include_archived or not actor.is_admin:
            stmt = stmt.where(Form.archived_at.is_(None))
        visible = _visible_form_ids(session, tenant_id, actor.branch_ids)
        if branch_id is not None:
            if branch_id not in _branches(session, tenant_id) or (
                actor.branch_ids is not None and branch_id not in actor.branch_ids
            ):
                raise NotFound(f"no branch {branch_id}")
            only = _visible_form_ids(session, tenant_id, frozenset({branch_id})) or set()
            visible = only if visible is None else visible & only
        forms = [f for f in session.scalars(stmt) if visible is None or f.id in visible]
        services = _services_of_forms(session, [f.id for f in forms], tenant_id)
        currents = _current_versions(session, forms)
        return [
            _form_info(f, _scoped_services(session, actor, services.get(f.id, [])), currents.get(f.id)) for f in forms
        ]


def _current_versions(session: Session, forms: Sequence[Form]) -> dict[int, FormVersionInfo]:
    if not forms:
        return {}
    keys = {f.id: f for f in forms}
    rows = session.execute(
        select(FormVersion)
        .join(Form, Form.id == FormVersion.form_id)
        .where(FormVersion.form_id.in_(sorted(keys)), FormVersion.version == Form.current_version)
    ).scalars()
    return {v.form_id: _version_info(keys[v.form_id].key, v) for v in rows}


def _scoped_services(session: Session, actor: Actor, services: list[Named]) -> list[Named]:
    """Only the services a non-administrator's branches are associated with."""
    if actor.branch_ids is None:
        return services
    mine = set(
        session.scalars(select(ServiceBranch.service_id).where(ServiceBranch.branch_id.in_(sorted(actor.branch_ids))))
    )
    return [s for s in services if s.id in mine]


def get_form(db: Database, actor: Actor, key: str) -> FormInfo:
    """A form the caller sees, with its current fields and every version, newest first."""
    tenant_id = require_staff(actor)
    with db.read() as session:
        f = _form(session, actor, tenant_id, key)
        versions = [
            _version_info(f.key, v)
            for v in session.scalars(
                select(FormVersion).where(FormVersion.form_id == f.id).order_by(FormVersion.version.desc())
            )
        ]
        services = _scoped_services(session, actor, _services_of_forms(session, [f.id], tenant_id).get(f.id, []))
        current = next((v for v in versions if v.version == f.current_version), None)
        return _form_info(f, services, current, versions)


def get_form_version(db: Database, actor: Actor, key: str, version: int) -> FormVersionInfo:
    """One version of a form the caller sees."""
    tenant_id = require_staff(actor)
    with db.read() as session:
        f = _form(session, actor, tenant_id, key)
        v = session.scalar(select(FormVersion).where(FormVersion.form_id == f.id, FormVersion.version == version))
        if v is None:
            raise NotFound(f"form {f.key!r} has no version {version}")
        return _version_info(f.key, v)


# --------------------------------------------------------------------------- form writes


def _checked(
    key: object, title: object, fields: object, record: str | None = None
) -> tuple[str, str, tuple[FieldDef, ...]]:
    problems = key_problems(key) + title_problems(title)
    parsed, more = parse_fields(fields)
    problems += more
    if problems:
        raise _invalid(
            f"form {record or key!r} refused: " + ", ".join(p.field for p in problems[:5]), problems, record or str(key)
        )
    return str(key), str(title).strip(), parsed


def _event(topic: str, entity: str, entity_id: int, payload: dict[str, Any]) -> outbox.Event:
    return outbox.Event(topic, entity, entity_id, payload)


def _create(session: Session, actor: Actor, tenant_id: int, key: str, title: str, fields: list[dict[str, Any]]) -> Form:
    now = utc_now()
    row = Form(tenant_id=tenant_id, key=key, title=title, current_version=1, created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    session.add(
        FormVersion(form_id=row.id, version=1, title=title, fields=fields, created_at=now, created_by=actor.label[:200])
    )
    audit.record(
        session,
        actor,
        audit.Change(
            "form",
            row.id,
            "create",
            {"title": [None, title], "version": [None, 1], "fields": [None, [f["key"] for f in fields]]},
            external_id=key,
        ),
    )
    outbox.emit_many(
        session, [_event("forms.form.created", "form", row.id, {"tenant_id": tenant_id, "key": key, "version": 1})]
    )
    return row


def _new_version(session: Session, actor: Actor, row: Form, title: str, fields: list[dict[str, Any]]) -> bool:
    """Add a version when title or fields differ from the current one; False when nothing changed."""
    if row.archived_at is not None:
        raise Conflict(f"form {row.key!r} is archived: restore it before editing")
    current = session.scalar(
        select(FormVersion).where(FormVersion.form_id == row.id, FormVersion.version == row.current_version)
    )
    if current is not None and current.title == title and list(current.fields) == fields:
        return False
    now = utc_now()
    version = row.current_version + 1
    session.add(
        FormVersion(
            form_id=row.id, version=version, title=title, fields=fields, created_at=now, created_by=actor.label[:200]
        )
    )
    changes: dict[str, Any] = {"version": [row.current_version, version]}
    if row.title != title:
        changes["title"] = [row.title, title]
    diff = field_changes(current.fields if current is not None else [], fields)
    changes.update({f"fields_{k}": [None, v] for k, v in diff.items() if v})
    row.title, row.current_version, row.updated_at = title, version, now
    audit.record(session, actor, audit.Change("form", row.id, "update", changes, external_id=row.key))
    outbox.emit_many(
        session,
        [
            _event(
                "forms.form.updated", "form", row.id, {"tenant_id": row.tenant_id, "key": row.key, "version": version}
            )
        ],
    )
    return True


def do_create_form(db: Database, actor: Actor, *, key: str, title: str, fields: object) -> FormInfo:
    """Define a form for the whole tenant: version 1. The key is the form's for good (Conflict if taken)."""
    tenant_id = _require_admin(actor)
    key, title, parsed = _checked(key, title, fields)
    with db.transaction() as session:
        if session.scalar(select(Form.id).where(Form.tenant_id == tenant_id, Form.key == key)) is not None:
            raise Conflict(f"a form with key {key!r} exists: edit it to make a new version")
        row = _create(session, actor, tenant_id, key, title, fields_json(parsed))
    return get_form(db, actor, row.key)


def do_update_form(
    db: Database, actor: Actor, key: str, *, title: str, fields: object, expected_version: int | None = None
) -> FormInfo:
    """Edit a form: a new immutable version that every branch seeing the form gets at once.

    Sending the current definition again changes nothing. ``expected_version``
    (the version the editor started from) refuses an edit made over someone
    else's newer one (Conflict).
    """
    tenant_id = require_staff(actor)
    with db.transaction() as session:
        row = _form(session, actor, tenant_id, key)
        _require_admin(actor)
        _, title, parsed = _checked(row.key, title, fields)
        _check_expected(row, expected_version)
        _new_version(session, actor, row, title, fields_json(parsed))
    return get_form(db, actor, key)


def _check_expected(row: Form, expected_version: int | None) -> None:
    """Refuse an edit made from an older version than the current one (Conflict); None: no check."""
    if expected_version is not None and expected_version != row.current_version:
        raise Conflict(
            f"form {row.key!r} is at version {row.current_version}, not {expected_version}: "
            "someone saved a newer version; reload it and edit again"
        )


# --------------------------------------------------------------------------- field by field (the editor)


def _editing(session: Session, actor: Actor, key: str, expected_version: int | None) -> tuple[Form, list[Any]]:
    """The live form an administrator edits one field at a time, and its current fields (a copy to change)."""
    row = _form(session, actor, require_staff(actor), key)
    _require_admin(actor)
    if row.archived_at is not None:
        raise Conflict(f"form {row.key!r} is archived: restore it before editing")
    _check_expected(row, expected_version)
    current = session.scalar(
        select(FormVersion).where(FormVersion.form_id == row.id, FormVersion.version == row.current_version)
    )
    return row, [dict(f) for f in (current.fields if current is not None else [])]


def _field_at(row: Form, fields: Sequence[Mapping[str, Any]], field_key: str) -> int:
    """The position of field ``field_key`` in the current version; NotFound otherwise."""
    for i, f in enumerate(fields):
        if f.get("key") == field_key:
            return i
    raise NotFound(f"form {row.key!r} has no field {field_key[:60]!r} in version {row.current_version}")


def _save_fields(session: Session, actor: Actor, row: Form, title: object, fields: list[Any]) -> None:
    """Check the whole definition as edited and make it the next version (nothing if unchanged)."""
    _, text, parsed = _checked(row.key, title, fields)
    _new_version(session, actor, row, text, fields_json(parsed))


def do_set_form_title(
    db: Database, actor: Actor, key: str, title: str, *, expected_version: int | None = None
) -> FormInfo:
    """Retitle a form, keeping its fields: a new version (none if the title is the same)."""
    with db.transaction() as session:
        row, fields = _editing(session, actor, key, expected_version)
        _save_fields(session, actor, row, title, fields)
    return get_form(db, actor, key)


def do_add_field(
    db: Database,
    actor: Actor,
    key: str,
    field: object,
    *,
    position: int | None = None,
    expected_version: int | None = None,
) -> FormInfo:
    """Add one field (``{key, label, type, required, choices}``) at the end or at 0-based ``position``: a new version.

    The field is checked with the whole definition: a problem names ``fields[i]`` at the position it would have.
    """
    with db.transaction() as session:
        row, fields = _editing(session, actor, key, expected_version)
        at = len(fields) if position is None else position
        if not 0 <= at <= len(fields):
            raise _invalid(
                f"form {row.key!r}: no position {position} for a new field",
                [Problem("position", position, f"a position from 0 to {len(fields)} (the end)")],
                row.key,
            )
        fields.insert(at, field)
        _save_fields(session, actor, row, row.title, fields)
    return get_form(db, actor, key)


def do_update_field(
    db: Database, actor: Actor, key: str, field_key: str, field: object, *, expected_version: int | None = None
) -> FormInfo:
    """Replace field ``field_key`` (its key may change too) in place: a new version (none if it is the same)."""
    with db.transaction() as session:
        row, fields = _editing(session, actor, key, expected_version)
        fields[_field_at(row, fields, field_key)] = field
        _save_fields(session, actor, row, row.title, fields)
    return get_form(db, actor, key)


def do_remove_field(
    db: Database, actor: Actor, key: str, field_key: str, *, expected_version: int | None = None
) -> FormInfo:
    """Remove field ``field_key``: a new version (older versions keep it). A form keeps at least one field."""
    with db.transaction() as session:
        row, fields = _editing(session, actor, key, expected_version)
        at = _field_at(row, fields, field_key)
        if len(fields) == 1:
            raise _invalid(
                f"form {row.key!r} keeps at least one field",
                [Problem("fields", field_key, "a form with at least one field: archive the form to retire it")],
                row.key,
            )
        del fields[at]
        _save_fields(session, actor, row, row.title, fields)
    return get_form(db, actor, key)


def do_move_field(
    db: Database, actor: Actor, key: str, field_key: str, *, by: int, expected_version: int | None = None
) -> FormInfo:
    """Move field ``field_key`` ``by`` places (-1: up, 1: down): a new version with the fields reordered."""
    with db.transaction() as session:
        row, fields = _editing(session, actor, key, expected_version)
        at = _field_at(row, fields, field_key)
        to = at + by
        if by == 0 or not 0 <= to < len(fields):
            raise _invalid(
                f"form {row.key!r}: field {field_key!r} cannot move {by:+d} from position {at + 1} of {len(fields)}",
                [Problem("move", by, f"a move that keeps the field within positions 1 to {len(fields)}")],
                row.key,
            )
        fields.insert(to, fields.pop(at))
        _save_fields(session, actor, row, row.title, fields)
    return get_form(db, actor, key)


def _flip_archived(row: Form | Service, *, archived: bool) -> str | None:
    """Archive or restore a form or service row: the audit action, or None when it already was so."""
    if (row.archived_at is not None) == archived:
        return None
    row.archived_at = utc_now() if archived else None
    return "archive" if archived else "restore"


def _set_archived(db: Database, actor: Actor, key: str, *, archived: bool) -> FormInfo:
    tenant_id = require_staff(actor)
    with db.transaction() as session:
        row = _form(session, actor, tenant_id, key)
        _require_admin(actor)
        action = _flip_archived(row, archived=archived)
        if action is not None:
            row.updated_at = row.archived_at or utc_now()  # archived: the same moment
            audit.record(
                session,
                actor,
                audit.Change("form", row.id, action, {"archived": [not archived, archived]}, external_id=row.key),
            )
            outbox.emit_many(
                session,
                [
                    _event(
                        f"forms.form.{action}d",
                        "form",
                        row.id,
                        {"tenant_id": tenant_id, "key": row.key, "version": row.current_version},
                    )
                ],
            )
    return get_form(db, actor, key)


def do_archive_form(db: Database, actor: Actor, key: str) -> FormInfo:
    """Archive a form: kept with its history, seen by no branch, restorable."""
    return _set_archived(db, actor, key, archived=True)


def do_restore_form(db: Database, actor: Actor, key: str) -> FormInfo:
    """Restore an archived form: branches of its services see it again."""
    return _set_archived(db, actor, key, archived=False)


def do_import_forms(db: Database, actor: Actor, document: object) -> list[ImportOutcome]:
    """Create or edit many forms from one document (``{"forms": [{key, title, fields}, ...]}``), all or nothing.

    Every form is checked before anything is written; each problem names the
    form (its position and key), the field and the value.
    """
    tenant_id = _require_admin(actor)
    items = document.get("forms") if isinstance(document, Mapping) else document
    if not isinstance(items, list) or not items or len(items) > MAX_IMPORT:
        raise InvalidInput(
            "forms document refused",
            errors=[
                RecordError(
                    None, None, "forms", type(items).__name__, f'{{"forms": [...]}} with 1 to {MAX_IMPORT} forms'
                )
            ],
        )
    errors: list[RecordError] = []
    checked: list[tuple[str, str, list[dict[str, Any]]]] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            errors.append(RecordError(i, None, None, type(item).__name__, "a form: {key, title, fields}"))
            continue
        key = item.get("key")
        problems = key_problems(key) + title_problems(item.get("title"))
        parsed, more = parse_fields(item.get("fields"))
        problems += more
        extra = sorted(str(k) for k in item if k not in ("key", "title", "fields"))
        problems += [Problem(k, item[k], "no such attribute: key, title, fields") for k in extra]
        if isinstance(key, str) and key in seen:
            problems.append(Problem("key", key, "each form once per document"))
        seen.add(str(key))
        errors += [RecordError(i, str(key), p.field, p.value, p.expected) for p in problems]
        if not problems:
            checked.append((str(key), str(item["title"]).strip(), fields_json(parsed)))
    if errors:
        raise InvalidInput(f"forms document refused: {len(errors)} problem(s)", errors=errors)
    outcomes = []
    with db.transaction() as session:
        existing = {
            f.key: f
            for f in session.scalars(
                select(Form).where(Form.tenant_id == tenant_id, Form.key.in_([c[0] for c in checked]))
            )
        }
        for key, title, fields in checked:
            row = existing.get(key)
            if row is None:
                row = _create(session, actor, tenant_id, key, title, fields)
                outcomes.append(ImportOutcome(key, "created", 1))
            elif _new_version(session, actor, row, title, fields):
                outcomes.append(ImportOutcome(key, "updated", row.current_version))
            else:
                outcomes.append(ImportOutcome(key, "unchanged", row.current_version))
    return outcomes


def export_forms(db: Database, actor: Actor) -> dict[str, Any]:
    """The caller's forms as an import document (current versions)."""
    forms = list_forms(db, actor)
    return {"forms": [{"key": f.key, "title": f.title, "fields": f.current.fields if f.current else []} for f in forms]}


# --------------------------------------------------------------------------- services


def list_branches(db: Database, actor: Actor) -> list[BranchInfo]:
    """The tenant's branches the caller may see, with their (live) services."""
    tenant_id = require_staff(actor)
    with db.read() as session:
        branches = _branches(session, tenant_id)
        shown = [b for b in branches.values() if actor.branch_ids is None or b.id in actor.branch_ids]
        services: dict[int, list[Named]] = defaultdict(list)
        if shown:
            for bid, sid, name in session.execute(
                select(ServiceBranch.branch_id, Service.id, Service.name)
                .join(Service, Service.id == ServiceBranch.service_id)
                .where(ServiceBranch.branch_id.in_([b.id for b in shown]), Service.archived_at.is_(None))
                .order_by(Service.name)
            ):
                services[bid].append(Named(sid, name))
        return sorted(
            (BranchInfo(b.id, b.name, b.external_id, b.environment_id, b.environment, services[b.id]) for b in shown),
            key=lambda b: (b.name.casefold(), b.id),
        )


def _service_infos(session: Session, actor: Actor, tenant_id: int, rows: Sequence[Service]) -> list[ServiceInfo]:
    ids = [s.id for s in rows]
    branches = _branches(session, tenant_id)
    forms: dict[int, list[Form]] = defaultdict(list)
    links: dict[int, list[int]] = defaultdict(list)
    if ids:
        for sid, f in session.execute(
            select(ServiceForm.service_id, Form)
            .join(Form, Form.id == ServiceForm.form_id)
            .where(ServiceForm.service_id.in_(ids))
            .order_by(Form.title, Form.key)
        ):
            forms[sid].append(f)
        for sid, bid in session.execute(
            select(ServiceBranch.service_id, ServiceBranch.branch_id).where(ServiceBranch.service_id.in_(ids))
        ):
            if actor.branch_ids is None or bid in actor.branch_ids:
                links[sid].append(bid)
    out = []
    for s in rows:
        shown = [f for f in forms[s.id] if f.archived_at is None or actor.is_admin]
        named = sorted(
            (Named(b, branches[b].name if b in branches else f"branch {b}") for b in links[s.id]),
            key=lambda n: n.name.casefold(),
        )
        dedicated = None
        if s.dedicated_branch_id is not None:
            b = branches.get(s.dedicated_branch_id)
            dedicated = Named(s.dedicated_branch_id, b.name if b else f"branch {s.dedicated_branch_id}")
        out.append(
            ServiceInfo(
                s.id,
                s.name,
                dedicated,
                s.archived_at,
                s.updated_at,
                [Named(f.id, f.title) for f in shown],
                [f.key for f in shown],
                [form_ref(f.key, f.current_version) for f in shown],
                named,
            )
        )
    return out


def _visible_services(actor: Actor, tenant_id: int) -> Select[Service]:
    stmt = select(Service).where(Service.tenant_id == tenant_id)
    if actor.branch_ids is not None:
        mine = select(ServiceBranch.service_id).where(ServiceBranch.branch_id.in_(sorted(actor.branch_ids)))
        stmt = stmt.where(Service.id.in_(mine), Service.archived_at.is_(None))
    return stmt


def list_services(db: Database, actor: Actor, *, include_archived: bool = False) -> list[ServiceInfo]:
    """The services the caller sees (a non-administrator: those of their branches), by name."""
    tenant_id = require_staff(actor)
    with db.read() as session:
        stmt = _visible_services(actor, tenant_id).order_by(Service.name)
        if not include_archived:
            stmt = stmt.where(Service.archived_at.is_(None))
        return _service_infos(session, actor, tenant_id, session.scalars(stmt).all())


def _service(session: Session, actor: Actor, tenant_id: int, service_id: int) -> Service:
    row = session.scalar(_visible_services(actor, tenant_id).where(Service.id == service_id))
    if row is None:
        raise NotFound(f"no service {service_id}")
    return row


def get_service(db: Database, actor: Actor, service_id: int) -> ServiceInfo:
    """One service the caller sees."""
    tenant_id = require_staff(actor)
    with db.read() as session:
        return _service_infos(session, actor, tenant_id, [_service(session, actor, tenant_id, service_id)])[0]


def _resolve_forms(session: Session, tenant_id: int, keys: Iterable[str], members: Collection[int] = ()) -> list[Form]:
    """Live forms by key; archived forms only if already ``members`` (they stay when a service is edited)."""
    wanted = list(dict.fromkeys(keys))
    found = (
        {f.key: f for f in session.scalars(select(Form).where(Form.tenant_id == tenant_id, Form.key.in_(wanted)))}
        if wanted
        else {}
    )
    bad = [k for k in wanted if k not in found or (found[k].archived_at is not None and found[k].id not in members)]
    if bad:
        raise InvalidInput(
            "unknown or archived form(s): " + ", ".join(map(repr, bad[:10])),
            errors=[RecordError(None, k, "forms", k, "the key of a live form of this tenant") for k in bad],
        )
    return [found[k] for k in wanted]


def _resolve_branches(session: Session, tenant_id: int, ids: Iterable[int]) -> list[int]:
    wanted = list(dict.fromkeys(ids))
    branches = _branches(session, tenant_id)
    bad = [b for b in wanted if b not in branches]
    if bad:
        raise InvalidInput(
            "unknown branch(es): " + ", ".join(map(str, bad[:10])),
            errors=[RecordError(None, str(b), "branch_ids", b, "the id of a branch of this tenant") for b in bad],
        )
    return wanted


def _touch_service(session: Session, actor: Actor, row: Service, action: str, changes: dict[str, Any]) -> None:
    row.updated_at = utc_now()
    audit.record(session, actor, audit.Change("service", row.id, action, changes, external_id=row.name))
    past = {"create": "created", "update": "updated", "archive": "archived", "restore": "restored"}[action]
    outbox.emit_many(
        session, [_event(f"forms.service.{past}", "service", row.id, {"tenant_id": row.tenant_id, "name": row.name})]
    )


def _set_links(
    session: Session, row: Service, form_ids: list[int] | None, branch_ids: list[int] | None
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if form_ids is not None:
        before = sorted(session.scalars(select(ServiceForm.form_id).where(ServiceForm.service_id == row.id)))
        if before != sorted(form_ids):
            session.execute(delete(ServiceForm).where(ServiceForm.service_id == row.id))
            if form_ids:
                session.execute(insert(ServiceForm), [{"service_id": row.id, "form_id": f} for f in form_ids])
            changes["form_ids"] = [before, sorted(form_ids)]
    if branch_ids is not None:
        before = sorted(session.scalars(select(ServiceBranch.branch_id).where(ServiceBranch.service_id == row.id)))
        if before != sorted(branch_ids):
            session.execute(delete(ServiceBranch).where(ServiceBranch.service_id == row.id))
            if branch_ids:
                session.execute(insert(ServiceBranch), [{"service_id": row.id, "branch_id": b} for b in branch_ids])
            changes["branch_ids"] = [before, sorted(branch_ids)]
    return changes


def _check_name(session: Session, tenant_id: int, name: object, service_id: int | None = None) -> str:
    problems = name_problems(name)
    if problems:
        raise _invalid("service name refused", problems)
    text = str(name).strip()
    taken = session.scalar(select(Service.id).where(Service.tenant_id == tenant_id, Service.name == text))
    if taken is not None and taken != service_id:
        raise Conflict(f"a service named {text!r} exists")
    return text


def do_create_service(
    db: Database, actor: Actor, *, name: str, form_keys: Sequence[str] = (), branch_ids: Sequence[int] = ()
) -> ServiceInfo:
    """Create a service with its forms and associated branches."""
    tenant_id = _require_admin(actor)
    with db.transaction() as session:
        text = _check_name(session, tenant_id, name)
        forms = _resolve_forms(session, tenant_id, form_keys)
        branches = _resolve_branches(session, tenant_id, branch_ids)
        now = utc_now()
        row = Service(tenant_id=tenant_id, name=text, created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        changes = {"name": [None, text], **_set_links(session, row, [f.id for f in forms], branches)}
        _touch_service(session, actor, row, "create", changes)
        service_id = row.id
    return get_service(db, actor, service_id)


def do_update_service(
    db: Database,
    actor: Actor,
    service_id: int,
    *,
    name: str | None = None,
    form_keys: Sequence[str] | None = None,
    branch_ids: Sequence[int] | None = None,
) -> ServiceInfo:
    """Rename a service, or replace its forms or its branches (None: leave as is)."""
    tenant_id = require_staff(actor)
    with db.transaction() as session:
        row = _service(session, actor, tenant_id, service_id)
        _require_admin(actor)
        if row.archived_at is not None:
            raise Conflict(f"service {row.name!r} is archived: restore it before editing")
        changes: dict[str, Any] = {}
        if name is not None:
            text = _check_name(session, tenant_id, name, row.id)
            if text != row.name:
                changes["name"] = [row.name, text]
                row.name = text
        members = set(session.scalars(select(ServiceForm.form_id).where(ServiceForm.service_id == row.id)))
        form_ids = None
        if form_keys is not None:
            form_ids = [f.id for f in _resolve_forms(session, tenant_id, form_keys, members)]
            # Archived forms keep their services (a restored form is back where it was): restore one to remove it.
            archived = session.scalars(
                select(Form.id).where(Form.id.in_(sorted(members)), Form.archived_at.is_not(None))
            ).all()
            form_ids += [f for f in archived if f not in form_ids]
        branches = None if branch_ids is None else _resolve_branches(session, tenant_id, branch_ids)
        if row.dedicated_branch_id is not None and branches is not None and set(branches) - {row.dedicated_branch_id}:
            raise InvalidInput(
                f"service {row.name!r} is dedicated to one branch",
                errors=[
                    RecordError(
                        None,
                        row.name,
                        "branch_ids",
                        b,
                        f"only the branch it is dedicated to ({row.dedicated_branch_id})",
                    )
                    for b in branches
                    if b != row.dedicated_branch_id
                ],
            )
        changes.update(_set_links(session, row, form_ids, branches))
        if changes:
            _touch_service(session, actor, row, "update", changes)
    return get_service(db, actor, service_id)


def _set_service_archived(db: Database, actor: Actor, service_id: int, *, archived: bool) -> ServiceInfo:
    tenant_id = require_staff(actor)
    with db.transaction() as session:
        row = _service(session, actor, tenant_id, service_id)
        _require_admin(actor)
        action = _flip_archived(row, archived=archived)
        if action is not None:
            _touch_service(session, actor, row, action, {"archived": [not archived, archived]})
    return get_service(db, actor, service_id)


def do_archive_service(db: Database, actor: Actor, service_id: int) -> ServiceInfo:
    """Archive a service: its branches stop seeing its forms (through it); kept and restorable."""
    return _set_service_archived(db, actor, service_id, archived=True)


def do_restore_service(db: Database, actor: Actor, service_id: int) -> ServiceInfo:
    """Restore an archived service."""
    return _set_service_archived(db, actor, service_id, archived=False)


def do_create_dedicated_service(db: Database, actor: Actor, branch_id: int, *, name: str | None = None) -> ServiceInfo:
    """Give a branch its own form set in one step: a service dedicated to it.

    The new service starts with the forms the branch sees now (the forms of its
    current services); the branch is associated with it and leaves its other
    services, so from now on it sees exactly the dedicated service's forms,
    which administrators then change for that branch alone. The other branches
    of those services are unaffected.
    """
    tenant_id = _require_admin(actor)
    with db.transaction() as session:
        branches = _branches(session, tenant_id)
        if branch_id not in branches:
            raise NotFound(f"no branch {branch_id}")
        taken = session.scalar(
            select(Service.name).where(Service.dedicated_branch_id == branch_id, Service.archived_at.is_(None))
        )
        if taken is not None:
            raise Conflict(f"branch {branches[branch_id].name!r} already has a dedicated service: {taken!r}")
        text = _check_name(session, tenant_id, name or f"{branches[branch_id].name} (own forms)"[:200])
        current = session.scalars(
            select(Service)
            .join(ServiceBranch, ServiceBranch.service_id == Service.id)
            .where(ServiceBranch.branch_id == branch_id, Service.archived_at.is_(None))
            .order_by(Service.id)
        ).all()
        form_ids = (
            sorted(
                set(
                    session.scalars(
                        select(ServiceForm.form_id)
                        .join(Form, Form.id == ServiceForm.form_id)
                        .where(ServiceForm.service_id.in_([s.id for s in current]), Form.archived_at.is_(None))
                    )
                )
            )
            if current
            else []
        )
        now = utc_now()
        row = Service(tenant_id=tenant_id, name=text, dedicated_branch_id=branch_id, created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        changes = {
            "name": [None, text],
            "dedicated_branch_id": [None, branch_id],
            "copied_from_services": [None, [s.id for s in current]],
            **_set_links(session, row, form_ids, [branch_id]),
        }
        _touch_service(session, actor, row, "create", changes)
        for s in current:
            session.execute(
                delete(ServiceBranch).where(ServiceBranch.service_id == s.id, ServiceBranch.branch_id == branch_id)
            )
            _touch_service(
                session,
                actor,
                s,
                "update",
                {"branch_ids_removed": [None, [branch_id]], "moved_to_service": [None, row.id]},
            )
        service_id = row.id
    return get_service(db, actor, service_id)


# --------------------------------------------------------------------------- the mobile feed


@dataclass(frozen=True, slots=True)
class FeedForms:
    """The forms of some branches: each branch's form ids (``key@version``, sorted) and every definition once."""

    by_branch: dict[int, list[str]]
    definitions: dict[str, dict[str, Any]]


def feed_forms(session: Session, tenant_id: int, branch_ids: Collection[int]) -> FeedForms:
    """What a device needs for visits of clients of these branches, read in the caller's (the feed's) transaction.

    Each branch sees the current versions of the live forms of its live
    services. A form edited once is therefore the new version for every branch.
    """
    if not branch_ids:
        return FeedForms({}, {})
    rows = session.execute(
        select(ServiceBranch.branch_id, Form.id, Form.key, Form.current_version)
        .join(Service, Service.id == ServiceBranch.service_id)
        .join(ServiceForm, ServiceForm.service_id == Service.id)
        .join(Form, Form.id == ServiceForm.form_id)
        .where(
            ServiceBranch.branch_id.in_(sorted(branch_ids)),
            Service.tenant_id == tenant_id,
            Service.archived_at.is_(None),
            Form.archived_at.is_(None),
        )
    ).all()
    by_branch: dict[int, set[str]] = defaultdict(set)
    wanted: dict[int, str] = {}
    for bid, fid, key, version in rows:
        by_branch[int(bid)].add(form_ref(key, version))
        wanted[fid] = key
    definitions: dict[str, dict[str, Any]] = {}
    if wanted:
        for v in session.scalars(
            select(FormVersion)
            .join(Form, Form.id == FormVersion.form_id)
            .where(FormVersion.form_id.in_(sorted(wanted)), FormVersion.version == Form.current_version)
        ):
            info = _version_info(wanted[v.form_id], v)
            definitions[info.ref] = {
                k: val for k, val in info.as_dict().items() if k not in ("created_at", "created_by")
            }
    return FeedForms({b: sorted(refs) for b, refs in by_branch.items()}, definitions)


def forms_changed_at(session: Session, tenant_id: int) -> datetime | None:
    """When the tenant's forms, services or branch associations last changed (None: never)."""
    a = session.scalar(select(func.max(Form.updated_at)).where(Form.tenant_id == tenant_id))
    b = session.scalar(select(func.max(Service.updated_at)).where(Service.tenant_id == tenant_id))
    times = [t for t in (a, b) if t is not None]
    return max(times) if times else None


def branch_form_sets(db: Database, actor: Actor, branch_ids: Collection[int]) -> dict[int, list[str]]:
    """For tests and tools: each of these branches' forms (``key@version``), within the caller's scope."""
    tenant_id = require_staff(actor)
    scoped = [b for b in branch_ids if actor.branch_ids is None or b in actor.branch_ids]
    with db.read() as session:
        found = feed_forms(session, tenant_id, scoped).by_branch
    return {b: found.get(b, []) for b in scoped}
