"""Where results go: InfluxDB line protocol (``lines``) and the awaited writer (``influx``)."""
