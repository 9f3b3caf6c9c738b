"""The trained models behind an HTTP API: ``flamboyance serve`` and the ``flamboyance index`` it searches.

``app.py`` holds the Flask routes, ``inputs.py`` reads and bounds what a request sends,
``batching.py`` gathers concurrent requests into one forward pass, ``models.py`` loads
the models once per process, ``search.py`` builds and queries the image index, and
``command.py``/``index_command.py`` are the two subcommands.
"""
