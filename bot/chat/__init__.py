"""The only code that speaks Slack: message builders and the Slack sink of the outbox."""
