"""Contact analytics: conversation and message metadata exported to S3 as date-partitioned JSON Lines."""
