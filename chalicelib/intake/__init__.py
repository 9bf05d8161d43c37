"""Channel intake: one module per channel turns raw input into an InboundMessage."""
