"""link_views: keep several views on the same selection."""

from __future__ import annotations

from typing import Any, Sequence

import traitlets as t


def link_views(*views: Any, traits: Sequence[str] = ("layer", "head", "aggregate", "rollout", "pinned")) -> list:
    """Keep views on the same selection: every trait in ``traits`` that two views both have is
    linked both ways with ``ipywidgets.link`` (HeadView has no ``head``: it follows the rest).

    >>> heads, heat = HeadView(record), Heatmap(record)
    >>> links = link_views(heads, heat)    # pin a token in one, the other highlights it
    >>> widgets.HBox([heads, heat])

    Returns the links; ``link.unlink()`` undoes one.
    """
    import ipywidgets

    if len(views) < 2:
        raise TypeError(f"link_views needs two or more views; got {len(views)}.")
    for view in views:
        if not isinstance(view, t.HasTraits):
            raise TypeError(f"link_views takes widgets (HeadView, Heatmap, ...); got {type(view).__name__}.")
    links = []
    for name in traits:
        having = [v for v in views if v.has_trait(name)]
        for a, b in zip(having, having[1:]):
            ra, rb = getattr(a, "_record", None), getattr(b, "_record", None)
            if name in ("layer", "head", "pinned") and ra is not None and rb is not None:
                sizes = {"layer": ("n_layers", "layers"), "head": ("n_heads", "heads"), "pinned": ("n_queries", "query tokens")}[name]
                if getattr(ra, sizes[0]) != getattr(rb, sizes[0]):
                    raise ValueError(f"views of records with different numbers of {sizes[1]} ({getattr(ra, sizes[0])} and {getattr(rb, sizes[0])}) cannot share `{name}`; pass traits=(...) without it.")
            links.append(ipywidgets.link((a, name), (b, name)))  # b takes a's value first
    return links

