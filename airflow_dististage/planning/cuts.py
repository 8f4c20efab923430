"""Why each load stage of a plan starts where it does, in words (``airflow dististage plan --auto``)."""

from __future__ import annotations

from airflow_dististage.planning.plan import ExecutionPlan


def explain_cuts(plan: ExecutionPlan) -> tuple[str | None, ...]:
    """Per stage, why it starts where it does (None for the first stage).

    A global step runs alone. Another stage starts because one of its steps needs the output of a
    global step before it, or because it does not fit in the GPUs (``plan.gpus``) the latest stage
    without a global step left. Automatic plans always have one of these reasons (otherwise that
    stage could join an earlier one); explicit load groups may also cut where nothing forces it.
    """
    ancestors = _ancestors(plan)
    reasons: list[str | None] = [None]
    for stage in plan.stages[1:]:
        reasons.append(f"stage {stage.index} starts here because {_reason(plan, stage.index, ancestors)}")
    return tuple(reasons)


def _ancestors(plan: ExecutionPlan) -> dict[str, set[str]]:
    ancestors: dict[str, set[str]] = {}
    for name in plan.topological_order:
        ancestors[name] = set()
        for predecessor in plan.steps[name].predecessors:
            ancestors[name] |= {predecessor} | ancestors[predecessor]
    return ancestors


def _reason(plan: ExecutionPlan, index: int, ancestors: dict[str, set[str]]) -> str:
    stage = plan.stages[index]
    if stage.is_global:
        return f"{stage.steps[0]} is a global step: it runs alone, once every row before it is there"
    between = []
    latest = index - 1
    while latest >= 0 and plan.stages[latest].is_global:
        between.append(plan.stages[latest].steps[0])
        latest -= 1
    for name in stage.steps:
        needed = [step for step in between if step in ancestors[name]]
        if needed:
            return f"{name} needs the output of global step {needed[0]} (stage {plan.steps[needed[0]].stage})"
    if latest >= 0 and plan.gpus is not None:
        used = plan.stages[latest].gpus
        for name in stage.steps:
            need = plan.steps[name].gpus
            if need and used + need > plan.gpus:
                return f"{name} needs {need} GPU(s) and stage {latest} uses {used} of {plan.gpus}"
        if used + stage.gpus > plan.gpus:
            return f"its steps need {stage.gpus} GPU(s) together and stage {latest} uses {used} of {plan.gpus}"
    if between:
        return f"stage {index - 1} holds global step {between[0]} alone"
    return "the load groups start a stage here"
