"""`legatura send` as a Prefect flow: serialisable parameters, its own warehouse connection; the work is in
flows/sending.py (plain functions the tests and a crash-recovering restart call directly)."""
from __future__ import annotations

from legatura.flows.config import load_settings
from legatura.flows.sending import Progress, SendOptions, SendSummary, run_send
from prefect import flow


@flow(name="send", validate_parameters=False)
def send_flow(config: str | None = None, limit: int | None = None, campaign: str | None = None,
              resend_unknown: bool = False, progress: Progress | None = None) -> SendSummary:
    """Deliver queued messages whose send_after has come (email, SMS, letters), at most once."""
    settings = load_settings(config)
    return run_send(settings, SendOptions(limit, campaign, resend_unknown), progress)
