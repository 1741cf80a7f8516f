"""Alerts out to a FHIR server (``wearmon fhir-export``)."""
