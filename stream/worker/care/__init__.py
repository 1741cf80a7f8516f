"""The care flow of a worker: care-team commands and the escalation timer on the alert state
(``commands``, ``timer``), notifications planned and delivered (``notifications``), the alert and
delivery history written to InfluxDB (``history``), and the alerts HTTP API (``api``)."""
