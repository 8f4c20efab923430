"""Generator steps that load data."""
