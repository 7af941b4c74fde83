"""Notification templates (zh and en defaults) and their rendering."""
