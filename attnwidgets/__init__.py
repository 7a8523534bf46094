"""attnwidgets: capture attention from any model and look at it in Jupyter."""

from .record import AttentionRecord, EncoderDecoderRecord

__all__ = ["AttentionRecord", "EncoderDecoderRecord"]
__version__ = "0.1.0"
