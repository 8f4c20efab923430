"""Steps that keep, group, merge, expand and combine columns, at distilabel's ``distilabel.steps.columns`` paths."""
