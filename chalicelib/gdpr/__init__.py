"""GDPR: export (Art. 15) and erasure (Art. 17) of one customer's personal data, with an audit tombstone."""
