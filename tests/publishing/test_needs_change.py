"""Full runs filter in SQL with ``needs_change``: it says "change" exactly when the domain decides a change."""

from __future__ import annotations

import itertools

import pytest

from carehub.publishing.domain.states import (
    State,
    VisitSituation,
    change_of,
    needs_change,
    record_state,
    visit_state,
)

CURRENT = (None, *State)
FLAGS = (False, True)


@pytest.mark.parametrize("current", CURRENT)
def test_needs_change_agrees_with_every_visit_decision(current: State | None) -> None:
    for eligible, deleted, cancelled, before, allocated, same in itertools.product(FLAGS, repeat=6):
        situation = VisitSituation(eligible, current, deleted, cancelled, before, allocated)
        content_changed = current is not None and not same
        decided = change_of(current, visit_state(situation), content_changed=content_changed) is not None
        assert needs_change(eligible=eligible, current=current, same_content=same) == decided, situation


@pytest.mark.parametrize("current", CURRENT)
def test_needs_change_agrees_with_every_client_worker_and_care_plan_decision(current: State | None) -> None:
    for eligible, same in itertools.product(FLAGS, repeat=2):
        content_changed = current is not None and not same
        decided = change_of(current, record_state(eligible=eligible, current=current), content_changed=content_changed)
        assert needs_change(eligible=eligible, current=current, same_content=same) == (decided is not None)
