"""Every table of every capability, gathered for migrations and tests."""

from __future__ import annotations

import carehub.platform.audit
import carehub.platform.auth.tables
import carehub.platform.delivery.tables
import carehub.platform.jobs
import carehub.platform.outbox
import carehub.publishing.mobile.tables
import carehub.publishing.tables
import carehub.roster.tables
import carehub.tenancy.forms.tables
import carehub.tenancy.tables  # noqa: F401 - imported for their tables
from carehub.platform.db import Base

metadata = Base.metadata
