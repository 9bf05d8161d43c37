"""Console read models and actions over the campaign's tables (queues, conversations, customers)."""
