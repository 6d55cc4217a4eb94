"""Documents as code: YAML files read with the line of every field, so errors can point at it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from phasegate.errors import InvalidInput, Problem


@dataclass(frozen=True)
class SourceDocument:
    """One YAML document from a file, with its node tree for line look-ups."""

    file: str
    data: Any
    node: yaml.Node

    def line_of(self, path: Sequence[str | int]) -> int:
        """The 1-based line of the deepest node along a field path that exists."""
        node = self.node
        for key in path:
            child = _child(node, key)
            if child is None:
                break
            node = child
        return node.start_mark.line + 1

    def locate(self, problems: Sequence[Problem]) -> list[Problem]:
        """The problems with this document's file and the line of their field."""
        located = []
        for problem in problems:
            path = [int(p) if p.isdigit() else p for p in (problem.field or "").split(".") if p]
            located.append(
                Problem(problem.message, field=problem.field, file=self.file, line=self.line_of(path))
            )
        return located


def _child(node: yaml.Node, key: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == key:
                # An empty value has no line of its own: point at its key.
                found: yaml.Node = v if not isinstance(v, yaml.ScalarNode) or v.value != "" else k
                return found
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        child: yaml.Node = node.value[key]
        return child
    return None


def yaml_files(path: Path) -> list[Path]:
    """The YAML files a path names: the file itself, or every .yaml/.yml below a folder, in order."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml"} and p.is_file())
    if not path.exists():
        raise InvalidInput(f"no such file or folder: {path}")
    return [path]


def load(path: Path) -> list[SourceDocument]:
    """Every document in the YAML files under a path; a syntax error names its file and line."""
    documents: list[SourceDocument] = []
    for file in yaml_files(path):
        text = file.read_text(encoding="utf-8")
        try:
            nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
            datas = list(yaml.safe_load_all(text))
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            line = mark.line + 1 if mark is not None else None
            raise InvalidInput(
                "the YAML cannot be read; nothing was written",
                [Problem(str(exc.problem), file=str(file), line=line)],
            ) from exc
        for node, data in zip(nodes, datas, strict=True):
            if node is None or data is None:
                continue
            if not isinstance(data, dict):
                raise InvalidInput(
                    "a document must be a mapping; nothing was written",
                    [
                        Problem(
                            "expected 'kind: ...' and fields", file=str(file), line=node.start_mark.line + 1
                        )
                    ],
                )
            documents.append(SourceDocument(str(file), data, node))
    return documents


def dump(document: dict[str, Any]) -> str:
    """A document as YAML, in its own field order, readable by people."""
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
