"""Offline evaluation of the detectors on labelled data (``wearmon evaluate``).

* ``cli`` registers the command; ``run`` evaluates one dataset end to end (``evaluate``) and
  writes the metrics JSON and the report;
* ``runs/`` replays each dataset family through the stream's own code, one patient at a time
  (``patient_run``, ``results``, ``policy``; ``illness_run``, ``normal_run``, ``rhythm_run``,
  ``synthetic_run``);
* ``metrics`` and ``rhythm_metrics`` hold the issue's metrics as pure functions, ``protocol``
  how settings are chosen without the patient scored, ``curves`` operating curves (sensitivity
  at an alarm rate, area, cliffs), ``anchors`` the published rules, ``river_candidates``
  River's own tools judged in the same harness;
* ``verdict`` (targets, clinical names, glossary), ``report`` and ``plots`` write the HTML
  report.

The data come from ``wearmon.stream.datasets``; nothing here imports ``wearmon.stream.tools``.
"""
