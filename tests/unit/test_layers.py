"""The storage layer imports no role (docs/layers.md); ``lint-imports`` checks the whole graph."""

from __future__ import annotations

import subprocess
import sys

ROLES = ("polyvox.api", "polyvox.sip", "polyvox.appserver", "polyvox.workers", "polyvox.cli")


def test_model_imports_no_role() -> None:
    # a fresh interpreter: this one may already hold role modules imported by other tests
    code = (
        "import sys, polyvox.db.model, polyvox.db.seed\n"
        f"roles = {ROLES!r}\n"
        "print(sorted(m for m in sys.modules if m.startswith(roles)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_model_holds_every_role_state_table() -> None:
    code = "import polyvox.db.model as m\nprint(sorted(m.metadata.tables))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for table in ("appserver_active_calls", "appserver_call_journal", "carrier_server_status",
                  "ddi_provider_registration_status", "billing_cdr_claims", "billing_mail_outbox",
                  "destination_rate_imports", "kam_trunks_cdrs"):
        assert repr(table) in out
