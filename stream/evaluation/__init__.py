"""Offline evaluation of the detectors on labelled data (``wearmon evaluate``).

``replay`` runs samples through the stream's own feature and detector code, ``metrics`` holds the
issue's metrics as pure functions, ``run`` orchestrates one dataset, ``report`` writes the HTML
report with plots, ``cli`` registers the command.
"""
