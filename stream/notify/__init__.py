"""Notifications: render (pure), outbox planning (pure), delivery through Apprise."""
