"""replydesk: serverless customer response handling, one stack per campaign."""
