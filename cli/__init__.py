"""The `replydesk` command line: operator and developer commands."""
