"""SelfInstruct's Jinja2 prompt: the text distilabel 1.5.3 publishes."""

from __future__ import annotations

SELF_INSTRUCT_TEMPLATE: str = """\
# Task Description
Develop {{ num_instructions }} user queries that can be received by the given AI application and applicable to the provided context. Emphasize diversity in verbs and linguistic structures within the model's textual capabilities.

# Criteria for Queries
{{ criteria_for_query_generation }}
Write each query on a separate line and avoid using numbered lists or bullet points.

# AI Application
{{ application_description }}

# Context
{{ input }}

# Output

"""
