"""The course's teaching code: one module per notebook topic.

It imports the library (record, capture, views, analysis); the library never imports it.
Notebooks import from here and define no helper of their own.
"""
