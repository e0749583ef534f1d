"""A notebook figure's alt text reaches the page.

``minitorch_xf.plot`` sends every figure with output metadata ``{"image/png": {"alt": ...}}`` naming its axes (the
words a screen reader needs, and what ``tests/test_browser.py`` reads to fail an unlabelled axis). myst-nb copies only
``width`` and ``height`` from an output's metadata onto the image, so this wraps its ``render_image`` to copy ``alt``
too (an ``alt`` set in the cell's ``mystnb.image`` options still wins).
"""

from __future__ import annotations

from sphinx.application import Sphinx


def _with_alt(render_image):
    def render(self, data):
        images = render_image(self, data)
        alt = (data.output_metadata or {}).get(data.mime_type, {}).get("alt")
        cell_options = (data.cell_metadata or {}).get("mystnb", {}).get("image", {})
        if isinstance(alt, str) and alt and "alt" not in cell_options:
            for image in images:
                image["alt"] = alt
        return images

    render._xf_alt = True
    return render


def setup(app: Sphinx) -> None:
    from myst_nb.core.render import NbElementRenderer

    if not getattr(NbElementRenderer.render_image, "_xf_alt", False):
        NbElementRenderer.render_image = _with_alt(NbElementRenderer.render_image)
