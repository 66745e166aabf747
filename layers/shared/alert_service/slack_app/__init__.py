"""The Slack app: the incident view (a projection of the history table) and its buttons."""
