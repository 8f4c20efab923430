"""GenerateSentencePair's Jinja2 user prompt: the text distilabel 1.5.3 publishes."""

from __future__ import annotations

GENERATE_SENTENCE_PAIR_TEMPLATE: str = """\
{% if context is not none -%}
## Context

{{ context }}

{% endif -%}

## Anchor

{{ anchor }}

"""
