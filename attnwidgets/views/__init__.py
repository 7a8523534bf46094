"""Interactive attention views: one anywidget class and one ES module per view."""

from .base import AttentionView
from .headview import HeadView
from .heatmap import Heatmap
from .modelview import ModelView

__all__ = ["AttentionView", "Heatmap", "HeadView", "ModelView"]
