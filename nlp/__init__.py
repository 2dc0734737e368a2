"""Text understanding: normalization, the sentiment model, topic/risk/entity tagging, near-duplicates."""
