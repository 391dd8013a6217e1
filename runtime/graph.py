"""nnc graph: a picture of the network, drawn by Graphviz.

One box per layer (its name, type, output shape and parameter count) plus the input, and one
arrow per connection, branches and merges (`inputs:`) as the spec has them. The layout is
Graphviz's `dot` (through the `graphviz` Python package); .dot/.gv writes the source, which needs
no Graphviz program.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from nnc.runtime.errors import RunError

RENDERED = ("svg", "png", "pdf")
SOURCE = ("dot", "gv")


def network_graph(net, direction: str = "TB"):
    """The network as a graphviz.Digraph."""
    try:
        import graphviz
    except ImportError:
        raise RunError(
            "nnc graph needs the graphviz Python package: pip install graphviz"
        ) from None
    dot = graphviz.Digraph(
        net.spec.name,
        graph_attr={
            "rankdir": direction,
            "label": net.spec.name,
            "labelloc": "t",
            "fontname": "Helvetica",
        },
    )
    dot.attr("node", shape="plaintext", fontname="Helvetica", fontsize="11")
    dot.attr("edge", arrowsize="0.7")
    per_layer: dict[str, list] = {}
    for p in net.params:
        per_layer.setdefault(p.name.rsplit(".", 1)[0], []).append(p)
    dot.node("input", _label("input", "input", net.shapes["input"], None, "#e8f0fe"))
    for node in net.nodes:
        layer = node.layer
        params = per_layer.get(layer.name, [])
        colour = "#fff4e0" if len(node.inputs) > 1 else "#f5f5f5"
        dot.node(layer.name, _label(layer.name, layer.type, layer.out_shape, params, colour))
        for source in node.inputs:
            dot.edge(source, layer.name)
    return dot


def _label(name: str, kind: str, shape, params: list | None, colour: str) -> str:
    """An HTML-like Graphviz label: name and type, output shape, parameters."""
    rows = [f"<b>{html.escape(name)}</b>" + (f" ({html.escape(kind)})" if kind != name else "")]
    rows.append("[N, " + ", ".join(str(d) for d in shape) + "]")
    if params:
        learn = [p for p in params if not p.state]
        state = [p for p in params if p.state]
        count = sum(int(np.prod(p.shape)) for p in learn)
        text = f"{count:,} params"
        if learn and not any(p.trainable for p in learn):
            text += " (frozen)"
        if state:
            text += f" + {sum(int(np.prod(p.shape)) for p in state):,} state"
        rows.append(text)
    cells = "".join(f"<tr><td>{r}</td></tr>" for r in rows)
    return (
        f'<<table border="1" cellborder="0" cellspacing="0" cellpadding="3" '
        f'bgcolor="{colour}">{cells}</table>>'
    )


def render(net, output: Path, direction: str = "TB") -> bytes:
    """The picture (or the .dot source) in the format the output's suffix names."""
    fmt = Path(output).suffix.lower().lstrip(".")
    if fmt not in RENDERED + SOURCE:
        raise RunError(
            f"-o {output}: unsupported picture type {Path(output).suffix!r}; use "
            + ", ".join(f".{f}" for f in RENDERED + SOURCE)
        )
    dot = network_graph(net, direction)
    if fmt in SOURCE:
        return dot.source.encode()
    import graphviz

    try:
        return dot.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise RunError(
            "nnc graph: Graphviz's dot program was not found; install Graphviz "
            "(apt-get install graphviz, brew install graphviz), or write the source with "
            "-o net.dot"
        ) from None
    except graphviz.CalledProcessError as e:
        detail = (e.stderr or b"").decode(errors="replace").strip().splitlines()
        raise RunError(f"nnc graph: dot failed: {detail[0] if detail else e}") from None
