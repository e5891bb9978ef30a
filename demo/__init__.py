"""``make demo``: a small network of IOPs driven through the running system."""
