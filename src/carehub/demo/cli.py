"""``carehub demo``: load a realistic, deterministic UK home-care provider."""

from __future__ import annotations

import time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from carehub import bootstrap
from carehub.demo import load
from carehub.demo.generator import TENANT_NAME, DemoData, Scale, generate
from carehub.platform import schema
from carehub.platform.cli_support import console, emit_json, emit_table, fail, run
from carehub.roster.domain.kinds import LOAD_ORDER

demo_app = typer.Typer(help="Demo data: a realistic UK home-care provider.", no_args_is_help=True)


def _progress_bar(*, disable: bool) -> Progress:
    return Progress(
        TextColumn("{task.description:<26}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=disable,
    )


def _tasks(progress: Progress, data: DemoData, method: str) -> dict[str, TaskID]:
    counts = data.counts()
    tasks: dict[str, TaskID] = {}
    if method == "files":
        for kind in LOAD_ORDER:
            tasks[f"write:{kind.value}"] = progress.add_task(f"Writing {kind.plural}", total=counts[kind])
    verb = "Importing" if method == "files" else "Loading"
    for kind in LOAD_ORDER:
        tasks[kind.value] = progress.add_task(f"{verb} {kind.plural}", total=counts[kind])
    tasks["confirm"] = progress.add_task("Confirming visits", total=len(data.confirmed_visit_ids))
    return tasks


def _print_summary(summary: dict[str, Any]) -> None:
    if summary["loaded"]:
        emit_table(
            f"{summary['tenant']['name']}: demo data ({summary['scale']}, from {summary['today']})",
            ["kind", "generated", "created", "updated", "unchanged", "rejected", "seconds"],
            [
                (kind, r["generated"], r["created"], r["updated"], r["unchanged"], r["rejected"], r["seconds"])
                for kind, r in summary["results"].items()
            ],
        )
        for kind, r in summary["results"].items():
            for e in r["errors"]:
                console.print(f"  [red]rejected {kind}[/] {e}")
        visits = summary["published"]["schedules"].get("visit", {}).get("published", 0)
        visits += summary["published"]["contracts"].get("visit", {}).get("published", 0)
        console.print(
            f"Confirmed {summary['confirmed_visits']} visits; published {visits:,} visits to care planning in "
            f"{summary['publish_seconds']:.1f}s; {len(summary['scenarios'])} publishing scenarios "
            "(see `carehub explain`); "
            f"done in {summary['seconds']:.1f}s."
        )
    else:
        console.print(f"Tenant {summary['tenant']['name']!r} already has roster data; nothing loaded (--if-empty).")
    console.print(f"\nDemo sign-ins (at {summary['url']} unless `carehub serve` is given another address):")
    for s in summary["sign_ins"]:
        note = "" if s["created"] else "  (existing user: password as when first created)"
        console.print(f"  {s['role']:<15} [bold]{s['username']}[/] / [bold]{s['password']}[/]{note}")


def _emit(summary: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        emit_json(summary)
    else:
        _print_summary(summary)


@demo_app.command("load")
def demo_load(
    scale: Annotated[Scale, typer.Option(help="small (50 clients), medium (2,000) or large (25,000).")] = Scale.SMALL,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing when the tenant already has roster data.")
    ] = False,
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant name; created if missing.")] = TENANT_NAME,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed and day give the same data.")] = 2026,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable summary.")] = False,
) -> None:
    """Create the demo tenant and users and load a generated provider into its primary environment."""
    started = time.perf_counter()
    container = bootstrap.build()
    try:
        _load(container, scale=scale, if_empty=if_empty, tenant=tenant, seed=seed, as_json=as_json, started=started)
    finally:
        container.db.engine.dispose()


def _load(
    container: bootstrap.Container,
    *,
    scale: Scale,
    if_empty: bool,
    tenant: str,
    seed: int,
    as_json: bool,
    started: float,
) -> None:
    if container.settings.mode == "production":
        fail("demo data is refused in production mode: it creates users with published passwords", as_json=as_json)
    schema.upgrade(container.db.engine)
    db = container.db
    bootstrap_actor = load.demo_actor(None, None)
    t, env, created = run(lambda: load.ensure_tenant(db, bootstrap_actor, tenant), as_json=as_json)
    actor = load.demo_actor(t.id, env.id)
    sign_ins = run(lambda: load.ensure_users(db, actor, t), as_json=as_json)
    summary: dict[str, Any] = {
        "tenant": {"id": t.id, "name": t.name, "timezone": t.timezone, "created": created},
        "environment_id": env.id,
        "scale": scale.value,
        "seed": seed,
        "loaded": False,
        "sign_ins": [s.as_dict() for s in sign_ins],
        "url": f"http://{container.settings.host}:{container.settings.port}",
    }
    if if_empty and not created and load.has_roster_data(db, t.id):
        summary["seconds"] = round(time.perf_counter() - started, 3)
        _emit(summary, as_json=as_json)
        return

    today = load.local_today(t.timezone)
    generate_started = time.perf_counter()
    data = generate(scale, today=today, zone=ZoneInfo(t.timezone), seed=seed)
    data.counts()
    generate_seconds = time.perf_counter() - generate_started
    method = load.method_for(scale)
    with _progress_bar(disable=as_json) as progress:
        tasks = _tasks(progress, data, method)

        def advance(step: str, n: int) -> None:
            progress.update(tasks[step], advance=n)

        if method == "batches":
            results = run(
                lambda: load.load_in_batches(
                    db,
                    actor,
                    env.id,
                    data,
                    batch_size=min(1000, container.settings.max_batch_records),
                    progress=advance,
                ),
                as_json=as_json,
            )
        else:
            results = run(lambda: load.load_as_files(db, actor, env.id, data, progress=advance), as_json=as_json)
        confirm_started = time.perf_counter()
        confirmed = run(
            lambda: load.confirm_visits(db, actor, env.id, data.confirmed_visit_ids, progress=advance), as_json=as_json
        )
        publish_started = time.perf_counter()
        published = run(lambda: load.publish(db, actor, env.id, data, today), as_json=as_json)
        run(lambda: load.grant_demo_branches(db, actor, t), as_json=as_json)
    rejected = sum(r.rejected for r in results.values())
    summary.update(
        {
            "loaded": True,
            "today": today.isoformat(),
            "days": data.days,
            "method": method,
            "counts": {k.value: n for k, n in data.counts().items()},
            "results": {k.value: r.as_dict() for k, r in results.items()},
            "rejected": rejected,
            "confirmed_visits": confirmed,
            "confirm_seconds": round(publish_started - confirm_started, 3),
            "published": published,
            "publish_seconds": round(time.perf_counter() - publish_started, 3),
            "generate_seconds": round(generate_seconds, 3),
            "monitored_contract_ids": sorted(data.monitored_contract_ids),
            "scenarios": [
                {"rule": s.rule, "kind": s.kind.value, "id": s.external_id, "description": s.description}
                for s in data.scenarios
            ],
            "seconds": round(time.perf_counter() - started, 3),
        }
    )
    _emit(summary, as_json=as_json)
    if rejected:
        if not as_json:
            console.print(f"[bold red]{rejected} generated records were rejected[/]")
        raise typer.Exit(1)
