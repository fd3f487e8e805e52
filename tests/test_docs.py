"""docs/topology-format.md against the loader: every key it accepts is documented, every example loads.

The words come from the loader's own tables (``_TOP_KEYS``, ...) and from the driver registry
(driver names, their option keys, shorthands and choices), so a key added to the loader or a
driver without a line in the reference fails here.  A word counts as documented
when it appears as code: inside an inline code span or a fenced block, as a whole token.

YAML blocks of the reference that are complete topologies (a top-level ``hosts:``) must load
with ``parse_spec(yaml.safe_load(block))``; a block whose first line is ``# refused: KEY.PATH: why``
must instead raise a ``TopologyError`` at that key path when loaded and built (``# refused: why`` checks only the error).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import netsim.topology.loader as loader
from netsim.engine.drivers import REGISTRY, user_drivers
from netsim.errors import TopologyError
from netsim.simulation import build
from netsim.topology import parse_spec
from netsim.traffic import KINDS as TRAFFIC_KINDS

DOC = Path(__file__).resolve().parent.parent / "docs" / "topology-format.md"

#: Loader attributes whose items are words of the format (keys, kinds, enum values).
SEQUENCES = (
    "_TOP_KEYS", "_UNDERLAY_KEYS", "_HOST_KEYS", "_DAEMON_KEYS", "_POOL_SPEC_KEYS", "_NETWORK_KEYS",
    "_IPAM_KEYS", "_POOL_KEYS", "_CONTAINER_KEYS", "_ATTACH_KEYS", "_CONNECT_KEYS", "_DISCONNECT_KEYS",
    "_SWARM_JOIN_KEYS", "_HOST_EVENT_KEYS", "EVENT_KINDS", "_ENGINES", "_ROLES", "_PROTOS",
    "_BUILTIN_NETWORKS", "_LINK_KEYS", "_INTERFACE_KEYS", "_INTERFACE_TYPES", "_ROUTER_KEYS",
    "_SCALE_KEYS", "_SERVICE_KEYS", "_DEPLOY_KEYS", "_PLACEMENT_KEYS", "_SERVICE_PORT_KEYS", "_SERVICE_MODES",
    "_ENDPOINT_MODES", "_PUBLISH_MODES",
)  # fmt: skip
#: Loader dicts whose keys are words of the format.
MAPPING_KEYS = ("_DURATION_UNITS",)


def loader_attribute(name: str) -> Any:
    if not hasattr(loader, name):
        pytest.fail(f"netsim.topology.loader has no attribute {name}: the loader was refactored, so update "
                    f"tests/test_docs.py to read its accepted keys from where they live now")
    return getattr(loader, name)


def accepted_words() -> dict[str, str]:
    """Every word the loader accepts, with the attribute it came from."""
    words: dict[str, str] = {}
    for name in SEQUENCES:
        words.update((str(word), name) for word in loader_attribute(name))
    for name in MAPPING_KEYS:
        words.update((word, name) for word in loader_attribute(name) if word is not None)
    for kind, flow in TRAFFIC_KINDS.items():
        words[kind] = "traffic.KINDS"
        words.update((key, f"{kind} flows") for key in flow.KEYS)
    for driver in user_drivers():
        words[driver] = "drivers.REGISTRY"
        for _, opt in REGISTRY[driver].Options.declared():
            words[opt.key] = f"{driver} options"
            if opt.shorthand:
                words[opt.shorthand] = f"{driver} options"
            words.update((value, f"{driver} {opt.key}") for value in getattr(opt.parse, "values", ()))
    return words


def doc_text() -> str:
    assert DOC.is_file(), f"{DOC} is missing"
    return DOC.read_text(encoding="utf-8")


_FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
_INLINE = re.compile(r"``(.+?)``|`([^`\n]+)`")


def code_of(text: str) -> list[str]:
    """The text of every fenced block and every inline code span."""
    blocks = [m.group(2) for m in _FENCE.finditer(text)]
    prose = _FENCE.sub("", text)
    spans = [m.group(1) or m.group(2) for m in _INLINE.finditer(prose)]
    return blocks + spans


def yaml_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, body) of every ```yaml block."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(2)) for m in _FENCE.finditer(text)
            if m.group(1).strip() == "yaml"]


def documented(word: str, code: list[str]) -> bool:
    token = re.compile(rf"(?<![A-Za-z0-9_-]){re.escape(word)}(?![A-Za-z0-9_-])")
    return any(token.search(piece) for piece in code)


def test_every_accepted_key_is_documented() -> None:
    code = code_of(doc_text())
    missing = [f"{word!r} (from {source})" for word, source in accepted_words().items() if not documented(word, code)]
    assert not missing, f"the loader accepts words docs/topology-format.md does not show as code: {', '.join(missing)}"


def test_the_word_check_is_not_vacuous() -> None:
    code = code_of("Use `userland-proxy`, or\n\n```yaml\nhosts: {a: {routes: []}}\n```\n")
    assert documented("userland-proxy", code) and documented("routes", code)
    assert not documented("userland", code) and not documented("proxy", code) and not documented("hosts.a", code)


def complete_topologies() -> list[Any]:
    blocks = [(line, body) for line, body in yaml_blocks(doc_text()) if re.search(r"^hosts:", body, re.M)]
    return [pytest.param(body, id=f"line-{line}") for line, body in blocks]


_REFUSED = re.compile(r"\A\s*# refused:\s*(?:([A-Za-z0-9_.\-\[\]]+):\s)?")


@pytest.mark.parametrize("block", complete_topologies())
def test_example_loads_or_is_refused_as_marked(block: str) -> None:
    refused = _REFUSED.match(block)
    if refused is None:
        parse_spec(yaml.safe_load(block))
        return
    with pytest.raises(TopologyError) as caught:
        build(parse_spec(yaml.safe_load(block)))  # Docker's own rules are checked by building
    if refused.group(1):
        assert caught.value.key_path == refused.group(1), str(caught.value)


def test_the_doc_has_good_and_refused_examples() -> None:
    blocks = [body for _, body in yaml_blocks(doc_text()) if re.search(r"^hosts:", body, re.M)]
    assert len(blocks) >= 5 and any(_REFUSED.match(b) for b in blocks) and not _REFUSED.match(blocks[0])


def test_the_first_example_builds_and_answers() -> None:
    # The complete example at the top is the one readers copy: it must build, not only parse.
    first = next(body for _, body in yaml_blocks(doc_text()) if re.search(r"^hosts:", body, re.M))
    sim = build(parse_spec(yaml.safe_load(first)))
    table = sim.reachability()
    assert len(table) and table.reachable.any() and not table.reachable.all()
