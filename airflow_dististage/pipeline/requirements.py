"""``Pipeline(requirements=[...])``: the packages a pipeline needs, checked before it runs (as in distilabel)."""

from __future__ import annotations

from collections.abc import Iterable


def checked_requirements(requirements: Iterable[str] | None) -> list[str]:
    """``requirements`` as a list of requirement strings (``"vllm>=0.8"``).

    Raises:
        ValueError: one is not a valid requirement string.
    """
    checked = list(requirements or [])
    if not checked:
        return checked
    from packaging.requirements import InvalidRequirement, Requirement

    for requirement in checked:
        try:
            Requirement(requirement)
        except (InvalidRequirement, TypeError) as error:
            raise ValueError(
                f"Pipeline requirement {requirement!r} is not a valid requirement string: {error}"
            ) from None
    return checked


def missing_requirements(requirements: Iterable[str]) -> list[str]:
    """The requirements whose package is not installed, or installed at a version they exclude."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement

    missing = []
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            missing.append(text)
            continue
        if requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
            missing.append(text)
    return missing
