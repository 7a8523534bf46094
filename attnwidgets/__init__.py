"""attnwidgets: capture attention from any model and look at it in Jupyter."""

from .ablation import ablate_heads
from .capture import NoAttentionError, capture, capture_modules
from .models import ModelNotAvailableError, load_model
from . import analysis, plot
from .record import AttentionRecord, EncoderDecoderRecord
from .views import AlignmentView, Explorer, HeadView, Heatmap, ImageAttention, ModelView, Predict, explore, link_views

__all__ = [
    "AlignmentView",
    "AttentionRecord",
    "Explorer",
    "HeadView",
    "Heatmap",
    "ImageAttention",
    "ModelView",
    "Predict",
    "ablate_heads",
    "analysis",
    "explore",
    "link_views",
    "plot",
    "EncoderDecoderRecord",
    "ModelNotAvailableError",
    "NoAttentionError",
    "capture",
    "capture_modules",
    "load_model",
]
__version__ = "0.1.0"
