"""Shipping's entry point: `python -m services.shipping`."""

from services.runtime.server import serve
from services.shipping.bootstrap import PROCESS

serve(PROCESS)
