"""link_views: keep several views on the same selection."""

from __future__ import annotations

import difflib
from typing import Any, Sequence

import traitlets as t

LINKED = ("layer", "head", "aggregate", "rollout", "pinned")


def link_views(*views: Any, traits: Sequence[str] | None = None) -> list:
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
    if isinstance(traits, str):
        raise TypeError(f"traits is a list of names, e.g. traits=({traits!r},); got the string {traits!r}.")
    # names asked for by hand must exist somewhere: a typo would otherwise link nothing, silently
    # (the usual selection, LINKED, is linked wherever two views have a name)
    for name in traits or ():
        if not any(v.has_trait(name) for v in views):
            names = sorted({n for v in views for n in (v.settable_names() if hasattr(v, "settable_names") else v.trait_names()) if not n.startswith("_")})
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            kinds = ", ".join(sorted({type(v).__name__ for v in views}))
            raise ValueError(f"none of the views ({kinds}) has a trait {name!r}, so linking it would do nothing.{hint} "
                             f"The usual ones: {', '.join(LINKED)}.")
    links = []
    for name in traits or LINKED:
        having = [v for v in views if v.has_trait(name)]
        for a, b in zip(having, having[1:]):
            ra, rb = getattr(a, "_record", None), getattr(b, "_record", None)
            if name in ("layer", "head", "pinned") and ra is not None and rb is not None:
                sizes = {"layer": ("n_layers", "layers"), "head": ("n_heads", "heads"), "pinned": ("n_queries", "query tokens")}[name]
                if getattr(ra, sizes[0]) != getattr(rb, sizes[0]):
                    raise ValueError(f"views of records with different numbers of {sizes[1]} ({getattr(ra, sizes[0])} and {getattr(rb, sizes[0])}) cannot share `{name}`; pass traits=(...) without it.")
            links.append(ipywidgets.link((a, name), (b, name)))  # b takes a's value first
    return links

