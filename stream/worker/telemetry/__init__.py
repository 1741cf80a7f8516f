"""The telemetry flow of a worker, one batch walking forward through it.

``agent`` takes a batch from Faust → ``progress`` admits the records that follow on from each
partition's next expected offset → ``process`` turns the messages into a ``batch.BatchOutput``
(pure) → ``worker.paging`` pages (alert events and anomalies on their topics, then alert state)
→ ``durable`` makes the rest durable in the background (points, dead letters, patients' state,
then offsets), one batch in flight at a time (``in_flight``).
"""
