"""Billing's entry point: `python -m services.billing`."""

from services.billing.bootstrap import PROCESS
from services.runtime.server import serve

serve(PROCESS)
