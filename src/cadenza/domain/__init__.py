"""The domain: plain models and rules, free of frameworks and I/O."""
