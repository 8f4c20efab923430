"""Prompt templates of the tasks, carried as data (distilabel 1.5.3's published text)."""
