"""Cataloging's entry point: `python -m services.cataloging`."""

from services.cataloging.bootstrap import PROCESS
from services.runtime.server import serve

serve(PROCESS)
