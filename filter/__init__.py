"""Filters for interleaved documents, with statistics that can be audited.

Steps (``filter/text.py``, ``filter/gopher.py``, ``filter/images.py``,
``filter/documents.py``) each decide keep or drop with a reason and a score
(``filter/base.py``); a ``FilterPipeline`` (``filter/pipeline.py``) runs them by stage,
built from a preset (``filter/presets.py``, ``configs/filters-*.yaml``); every step's
counts, score histograms and drop samples merge across units (``filter/audit.py``).
"""
