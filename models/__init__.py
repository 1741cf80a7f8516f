"""Detectors and clinical rules. Pure code: never imports Faust, Kafka or InfluxDB."""
