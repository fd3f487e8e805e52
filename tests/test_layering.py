"""The data plane does not import the control plane; the engine does not read topology files."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "netsim"

FORBIDDEN = {
    "datapath": ("engine", "topology", "simulation", "analysis", "cli", "swarm"),
    "engine": ("topology", "simulation", "analysis", "cli", "swarm"),
    "swarm": ("topology", "analysis", "cli"),
}


def _imports(path: Path) -> set[str]:
    """Absolute netsim modules a file imports (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text())
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {m for m in found if m.startswith("netsim")}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_does_not_import_upwards(layer: str) -> None:
    offenders = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for module in _imports(path):
            parts = module.split(".")
            if len(parts) > 1 and parts[1] in FORBIDDEN[layer]:
                offenders.append(f"{path.relative_to(PACKAGE.parent)} imports {module}")
    assert not offenders, "\n".join(offenders)


#: What a driver may import: the contract, its own package, the data plane, Docker's errors, and
#: the engine's plain records.  Never the daemon: a driver sees its host only through HostContext.
DRIVER_ALLOWED = ("netsim.engine.drivers", "netsim.datapath", "netsim.errors", "netsim.engine.config",
                  "netsim.engine.profile", "netsim.engine.ports")


def test_drivers_import_the_contract_and_the_datapath_never_the_daemon() -> None:
    offenders = []
    for path in sorted((PACKAGE / "engine" / "drivers").rglob("*.py")):
        for module in _imports(path):
            if module in ("netsim", "netsim.engine"):  # the package prefixes of a relative import
                continue
            if not any(module == ok or module.startswith(ok + ".") for ok in DRIVER_ALLOWED):
                offenders.append(f"{path.relative_to(PACKAGE.parent)} imports {module}")
    assert not offenders, "\n".join(offenders)


def test_the_driver_contract_imports_nothing_of_the_engine_at_run_time() -> None:
    # api.py and options.py name engine records for type checkers only; at run time they import
    # each other and the errors, so a driver written outside netsim pulls in no engine internals.
    for name in ("api.py", "options.py"):
        tree = ast.parse((PACKAGE / "engine" / "drivers" / name).read_text())
        runtime = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
        modules = {("." * node.level) + (node.module or "") for node in runtime if isinstance(node, ast.ImportFrom)}
        assert {m for m in modules if m.startswith(".")} <= {".options", "...errors"}, (name, modules)


def test_swarm_protocols_reach_the_network_only_through_their_transport() -> None:
    # memberlist's pattern: NetworkDB (and what joins it: memberlist, raft) imports the standard
    # library and its transport, so it runs over a MockNetwork as over the simulated underlay.
    allowed = {"memberlist.py": ("netsim.swarm.transport", "netsim.swarm.broadcast"),
               "networkdb.py": ("netsim.swarm.transport", "netsim.swarm.memberlist", "netsim.swarm.broadcast"),
               "broadcast.py": (),
               "raft.py": ("netsim.swarm.transport",),
               "dispatcher.py": ("netsim.swarm.transport",)}
    for name, ok in allowed.items():
        modules = _imports(PACKAGE / "swarm" / name) - {"netsim.swarm"}  # the package of a relative import
        assert all(m.startswith(ok) for m in modules), (name, modules)


def test_the_datapath_imports_light() -> None:
    # Swarm unit tests and forked workers import the forwarding core alone: the package root
    # loads its names lazily, so neither the engine, the loader nor pandas come along.
    import subprocess
    import sys

    code = ("import sys, netsim.datapath.netns; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('netsim', 'pandas', 'matplotlib')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "netsim.engine" not in loaded and "netsim.topology" not in loaded and "netsim.simulation" not in loaded
    assert "pandas" not in loaded and "matplotlib" not in loaded


def test_every_event_kind_of_the_format_has_a_handler() -> None:
    from netsim.events import HANDLERS
    from netsim.topology.spec import EVENT_KINDS

    assert set(EVENT_KINDS) <= set(HANDLERS)
