"""One labelled dataset family at a time through the stream's own code (``evaluation.run``).

* ``patient_run`` — one patient's columns through ``process()``: findings, alerts, timings;
* ``results`` — ``PatientResult``, the progress bar, ``replay_with_progress``;
* ``policy`` — the same samples as gateway uploads through validation and the alert policy;
* ``illness_run`` (Stanford, covid-daily), ``normal_run`` (MMASH + Fitabase), ``rhythm_run``
  (AFDB, NSR), ``synthetic_run`` (simulated patients): each returns the dataset's metrics and
  per-patient results;
* ``illness_curves`` — every illness method's operating curve on the same days (Wearmon by
  alarm budget, the anchors swept, the River candidates), and the population-curve file;
* ``mechanisms`` — the illness score with one mechanism changed at a time (``--mechanisms``).
"""
