"""The audit surface of a build: what each filter step removed, and whether it was right.

``funnel.py`` follows documents, images and words through the steps, ``drops.py`` reads
the sampled drops back as records a person can judge, and ``html.py`` puts both, with
the score histograms and their thresholds, into one self-contained HTML file
(``template.html``: inline CSS, SVG and JavaScript, nothing loaded from elsewhere).
``filter/stats_command.py`` is the ``flamboyance stats`` command over them.
"""
