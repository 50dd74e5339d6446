"""The table of docs/services.md, held by the code itself: a module of a service imports only the layers
below it, never another service, and a domain stays free of I/O. Read from the source (ast), so it runs in
a blink and needs nothing running."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Module of a service -> the modules of the same service it may import (bootstrap may import them all).
MAY_IMPORT: dict[str, set[str]] = {
    "domain": set(),
    "access": set(),  # the rule table: the runtime's auth and generated messages only
    "tokens": {"domain", "stores"},  # profiling's: signing people's tokens
    "pdf": {"domain"},
    "messages": {"domain"},
    "stores": {"domain", "messages"},
    "usecases": {"domain", "messages", "stores"},
    "servicer": {"domain", "messages", "stores", "usecases", "pdf", "tokens"},
    "handlers": {"domain", "messages", "stores", "usecases"},
    "bootstrap": {"domain", "messages", "stores", "usecases", "pdf", "servicer", "handlers"},
    "__main__": {"bootstrap"},
}
# What a domain may not reach for: the wire, the broker, generated messages, the runtime's I/O.
DOMAIN_MAY_NOT = ("grpc", "confluent_kafka", "httpx", "services.runtime.bus", "services.runtime.store",
                  "services.runtime.transactions", "services.runtime.server", "services.runtime.clients")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import of a file, `from a.b import c` counted as `a.b.c` and `a.b`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def violations(services: Path) -> list[str]:
    """Every import in services/<name>/*.py against the table, as `file:line: what is wrong`."""
    names = {folder.name for folder in services.iterdir() if (folder / "bootstrap.py").exists()}
    problems = []
    for service in sorted(names):
        for path in sorted((services / service).glob("*.py")):
            layer, where = path.stem, f"{path.relative_to(services.parent)}"
            if layer == "__init__":
                continue
            if (allowed := MAY_IMPORT.get(layer)) is None:
                problems.append(f"{where}: '{layer}' is not a layer of docs/services.md's table")
                continue
            for line, module in imported_modules(path):
                parts = module.split(".")
                if layer == "domain" and parts[-1].endswith(("_pb2", "_pb2_grpc")):
                    problems.append(f"{where}:{line}: a domain does not import generated messages ({module})")
                elif parts[0] == "services" and len(parts) > 1 and parts[1] in names - {service}:
                    problems.append(f"{where}:{line}: imports another service ({module}); services talk over "
                                    f"gRPC and events only")
                elif parts[:2] == ["services", service] and len(parts) == 3 and parts[2] not in allowed:
                    problems.append(f"{where}:{line}: {layer} may not import {parts[2]} "
                                    f"(it may import: {', '.join(sorted(allowed)) or 'nothing of its service'})")
                elif layer == "domain" and module.startswith(DOMAIN_MAY_NOT):
                    problems.append(f"{where}:{line}: a domain stays free of I/O; it imports "
                                    f"{next(m for m in DOMAIN_MAY_NOT if module.startswith(m))}")
    return list(dict.fromkeys(problems))  # `from a import b` is seen as a and as a.b: say it once


def test_every_service_imports_downward_only() -> None:
    assert violations(ROOT / "services") == []


def test_a_handler_importing_the_servicer_is_refused(tmp_path: Path) -> None:
    services = tmp_path / "services"
    shutil.copytree(ROOT / "services", services, ignore=shutil.ignore_patterns("__pycache__"))
    handlers = services / "paying" / "handlers.py"
    handlers.write_text(handlers.read_text().replace(
        "from __future__ import annotations\n",
        "from __future__ import annotations\n\nfrom services.paying.servicer import PaymentServicer\n", 1))
    domain = services / "stocking" / "domain.py"
    wrong = "from services.runtime.bus import EventBus\nimport services.carting.domain\n"
    domain.write_text(f"{domain.read_text()}\n{wrong}")
    problems = violations(services)
    assert len(problems) == 3, problems
    assert problems[0].startswith("services/paying/handlers.py:") and "handlers may not import servicer" in problems[0]
    assert problems[1].endswith("a domain stays free of I/O; it imports services.runtime.bus")
    assert "stocking/domain.py" in problems[2] and "imports another service (services.carting.domain)" in problems[2]
