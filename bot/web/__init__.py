"""The HTTP face: webhooks, health, metrics."""
