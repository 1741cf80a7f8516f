"""The care-team console: a small web application next to the workers (``wearmon console``).

* ``access`` — accounts, sessions, the login throttle, who sees what, login and CSRF;
* ``board_view`` — what the pages show about alerts (pure: rows, sorting, ward filter);
* ``history`` — a patient's recent vitals and alert timeline from InfluxDB;
* ``charts`` — small server-rendered SVG charts (pure);
* ``context`` — what the handlers share (the ``Console``, ``render``);
* ``server`` — the aiohttp application: pages, actions, live updates (server-sent events);
* ``run`` / ``cli`` — ``wearmon console`` and ``wearmon console add-user``.

It reads the cluster-wide alerts view (``views.alerts_feed``) and the patients directory, so it
sees every alert whichever worker owns the patient, and acts through alert commands.
"""
