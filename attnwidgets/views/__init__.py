"""Interactive attention views: one anywidget class and one ES module per view."""

from .alignment import AlignmentView
from .base import AttentionView
from .explorer import Explorer, explore
from .headview import HeadView
from .heatmap import Heatmap
from .image import ImageAttention
from .link import link_views
from .modelview import ModelView
from .predict import Predict
from .tokenview import TokenView

__all__ = ["AlignmentView", "AttentionView", "Explorer", "Heatmap", "HeadView", "ImageAttention", "ModelView", "Predict", "TokenView", "explore", "link_views"]
