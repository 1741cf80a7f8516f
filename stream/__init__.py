"""Wearmon: stream processing for wearable health monitoring."""

__version__ = "0.1.0"
