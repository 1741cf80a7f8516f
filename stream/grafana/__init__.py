"""Grafana as code: dashboards, alert rules and contact points for Wearmon, and how to install them.

``wearmon grafana generate`` writes the provisioning files under deploy/grafana/provisioning/;
``wearmon grafana push`` installs the same resources into an existing Grafana.
"""
