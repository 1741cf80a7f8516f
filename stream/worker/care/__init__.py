"""The care flow of a worker: care-team commands and the escalation timer on the alert state
(``commands``, ``timer``), notifications planned and delivered (``notifications``), and the
alerts HTTP API (``api``). Their history reaches InfluxDB through ``wearmon sink``."""
