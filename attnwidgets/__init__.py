"""attnwidgets: capture attention from any model and look at it in Jupyter."""

from .capture import NoAttentionError, capture, capture_modules
from .models import ModelNotAvailableError, load_model
from .record import AttentionRecord, EncoderDecoderRecord

__all__ = [
    "AttentionRecord",
    "EncoderDecoderRecord",
    "ModelNotAvailableError",
    "NoAttentionError",
    "capture",
    "capture_modules",
    "load_model",
]
__version__ = "0.1.0"
