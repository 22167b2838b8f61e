"""Loading a YAML data file that cannot exhaust memory or time (bottom floor; needs PyYAML).

``yaml.safe_load`` builds no Python objects beyond plain data, but it expands aliases: a 10 KB
file whose anchors nest ten aliases per level expands to 1e8 numbers (a "billion laughs" bomb,
tens of seconds and gigabytes). :func:`load_yaml`

* refuses files above :data:`MAX_YAML_BYTES` (16 MiB; the released calibrations are < 100 KB);
* counts every node as often as aliases repeat it -- the size of the data once expanded -- while
  composing, and refuses more than :data:`MAX_YAML_NODES` (the bomb is refused after reading a few
  KB, in milliseconds); aliases themselves stay legal (``yaml.safe_dump`` writes them for shared
  sub-lists), an alias to a collection that contains it (recursive data) is refused;
* turns a non-UTF-8 byte, malformed YAML and nesting too deep for the parser into one exception
  class (``error``) whose message names the function and the file (and YAML's line/column).
"""
from __future__ import annotations

import os
from typing import Any

__all__ = ["MAX_YAML_BYTES", "MAX_YAML_NODES", "load_yaml"]

MAX_YAML_BYTES = 16 << 20
MAX_YAML_NODES = 1_000_000


def _loader_class(yaml):
    class _CountingLoader(yaml.SafeLoader):
        """SafeLoader that counts every node as often as aliases repeat it (the size of the data once
        expanded) and refuses more than MAX_YAML_NODES, or an alias to a node still being composed."""

        def __init__(self, stream):
            super().__init__(stream)
            self._sizes: dict = {}

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                ev = self.peek_event()
                target = self.anchors.get(ev.anchor)
                if target is not None and id(target) not in self._sizes:
                    raise yaml.composer.ComposerError(None, None, f"alias *{ev.anchor} refers to a collection that "
                                                      "contains it (recursive data)", ev.start_mark)
            mark = self.peek_event().start_mark
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node))
            if size is None:                               # a new node (an alias returns a sized one)
                if isinstance(node, yaml.SequenceNode):
                    size = 1 + sum(self._sizes[id(c)] for c in node.value)
                elif isinstance(node, yaml.MappingNode):
                    size = 1 + sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
                else:
                    size = 1
                self._sizes[id(node)] = size
            if size > MAX_YAML_NODES:
                raise yaml.composer.ComposerError(None, None, f"the data expands to more than {MAX_YAML_NODES} "
                                                  "values through aliases or sheer size "
                                                  "(quaton_fast._safe_yaml.MAX_YAML_NODES)", mark)
            return node

    return _CountingLoader


def load_yaml(func: str, path: "str | os.PathLike", error: type = ValueError) -> Any:
    """Parse the YAML file ``path`` as plain data; ``error(message naming func and file)`` on any problem."""
    import yaml  # the caller reports a missing PyYAML with its own hint

    path = os.fspath(path)
    size = os.path.getsize(path)
    if size > MAX_YAML_BYTES:
        raise error(f"{func}: file '{path}' has {size} bytes, above the limit of {MAX_YAML_BYTES} "
                    "(quaton_fast._safe_yaml.MAX_YAML_BYTES)")
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{func}: file '{path}' is not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        return yaml.load(text, Loader=_loader_class(yaml))  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise error(f"{func}: file '{path}' is not valid YAML for this reader: {e}") from None
    except RecursionError:
        raise error(f"{func}: file '{path}' nests YAML collections too deeply to parse") from None
