"""The DAG's ``doc_md``: the step graph with each step's stage, resources and columns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_dististage.planning import ExecutionPlan

if TYPE_CHECKING:
    from airflow_dististage.compiler.options import CompileOptions
    from airflow_dististage.pipeline import Pipeline


def _columns(columns: dict[str, bool]) -> str:
    return ", ".join(name if required else f"{name}?" for name, required in columns.items()) or "-"


def _resources(replicas: int, gpus: int, gpu_pool: str) -> str:
    parts = [f"{replicas} replicas" if replicas > 1 else "1 replica"]
    if gpus:
        parts.append(f"{gpus} GPU(s) each in pool `{gpu_pool}`")
    return ", ".join(parts)


def _mermaid(pipeline: Pipeline, plan: ExecutionPlan) -> list[str]:
    lines = ["```mermaid", "flowchart LR"]
    for stage in plan.stages:
        label = f"stage {stage.index} (global)" if stage.is_global else f"stage {stage.index}"
        lines.append(f'  subgraph stage_{stage.index}["{label}"]')
        lines.extend(f"    {name}" for name in stage.steps)
        lines.append("  end")
    lines.extend(f"  {source} --> {target}" for source, target in pipeline.dag.edges)
    lines.append("```")
    return lines


def render_doc_md(pipeline: Pipeline, plan: ExecutionPlan, options: CompileOptions) -> str:
    """Markdown describing the pipeline, its stages and steps; deterministic for a given input."""
    lines = [f"# Pipeline `{pipeline.name}`", ""]
    if pipeline.description:
        lines += [pipeline.description, ""]
    lines += [
        f"{len(plan.steps)} steps in {len(plan.stages)} load stages. Stage *i + 1* starts when stage *i*"
        " has succeeded; the steps of one stage run together and stream batches through the store.",
        "",
        f"- Batch store: `{options.store}/{options.dag_id}/<run_id>/`",
        f"- Distiset output: `{options.output}/{options.dag_id}/<run_id>/`",
        f"- GPU pool: `{options.gpu_pool}`",
        "",
        *_mermaid(pipeline, plan),
        "",
        "| Stage | Step | Kind | Inputs | Outputs | Resources | After |",
        "|---|---|---|---|---|---|---|",
    ]
    steps = pipeline.steps
    for stage in plan.stages:
        for name in stage.steps:
            step, step_plan = steps[name], plan.steps[name]
            after = ", ".join(step_plan.predecessors) or "-"
            lines.append(
                f"| {stage.index} | `{name}` | {step_plan.kind} | {_columns(step.get_inputs())}"
                f" | {_columns(step.get_outputs())}"
                f" | {_resources(step_plan.replicas, step_plan.gpus_per_replica, options.gpu_pool)} | {after} |"
            )
    return "\n".join(lines) + "\n"
