"""The care-team console: a small web application next to the workers (``wearmon console``).

* ``accounts`` — named care-team accounts with scrypt password hashes, their wards and session
  versions, in a file;
* ``account_store`` — that file as the console sees it now (re-read when it changes);
* ``sessions`` — signed, expiring session cookies and CSRF tokens;
* ``throttle`` — failed logins per user name and address, a growing wait;
* ``scope`` — who sees what: an account's wards (pure);
* ``board_view`` — what the pages show about alerts (pure: rows, sorting, ward filter);
* ``history`` — a patient's recent vitals and alert timeline from InfluxDB;
* ``charts`` — small server-rendered SVG charts (pure);
* ``context`` — what the handlers share (the ``Console``, ``render``);
* ``web_auth`` — login, session middleware, CSRF checks;
* ``server`` — the aiohttp application: pages, actions, live updates (server-sent events);
* ``run`` / ``cli`` — ``wearmon console`` and ``wearmon console add-user``.

It reads the cluster-wide alerts view (``views.alerts_feed``) and the patients directory, so it
sees every alert whichever worker owns the patient, and acts through alert commands.
"""
