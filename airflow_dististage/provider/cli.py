"""Declares the ``airflow dististage`` command group (listed under ``cli`` in the provider info)."""

from __future__ import annotations

from airflow.cli.cli_config import ActionCommand, Arg, CLICommand, GroupCommand, lazy_load_command

_COMMANDS = "airflow_dististage.provider.commands"

ARG_GPUS = Arg(
    ("--gpus",),
    type=int,
    default=None,
    help=(
        "Slots to give the pool (one per GPU); default: the GPUs this host offers (DISTISTAGE_GPUS,"
        " CUDA_VISIBLE_DEVICES, else `nvidia-smi -L`)."
    ),
)
ARG_POOL = Arg(("--pool",), default=None, help="Pool name; default: the gpu_pool setting of section dististage.")
ARG_PLAN_POOL = Arg(("--pool",), default=None, help="Judge the stages against this pool instead of the DAG's own.")
ARG_PLAN_GPUS = Arg(
    ("--gpus",),
    type=int,
    default=None,
    help="With --auto: the GPUs one load stage may use; default: the gpus setting of section dististage.",
)
ARG_AUTO = Arg(
    ("--auto",),
    action="store_true",
    help="Show the load stages load_groups='auto' plans for --gpus GPUs, and why each stage starts where it does.",
)
ARG_VERBOSE = Arg(("-v", "--verbose"), action="store_true", help="Show Airflow's log lines while loading the DAG.")
ARG_DAG = Arg(("dag",), help="A DAG id (looked up in the dags folder) or the path of a DAG file.")


def get_cli_commands() -> list[CLICommand]:
    """The ``dististage`` group: ``pools sync`` and ``plan``."""
    pools = GroupCommand(
        name="pools",
        help="Manage the Airflow pool that gates GPU steps",
        subcommands=(
            ActionCommand(
                name="sync",
                help="Create the GPU pool, or resize it, to the number of GPUs",
                description=(
                    "Upserts the GPU pool with one slot per GPU: --gpus N, or the GPUs this host offers."
                    " With no GPU found and no --gpus, nothing is created and the command fails; --gpus 0"
                    " is refused (GPU steps would wait forever)."
                ),
                func=lazy_load_command(f"{_COMMANDS}.pools_sync"),
                args=(ARG_GPUS, ARG_POOL),
            ),
        ),
    )
    plan = ActionCommand(
        name="plan",
        help="Print a pipeline DAG's load stages, their GPU need and whether the pool can hold it",
        description=(
            "Prints each load stage with its GPU need and whether the pool can hold it. With --auto, the"
            " stages load_groups='auto' plans for --gpus N GPUs instead, each with the reason it starts"
            " where it does (a DAG compiled with load_groups='auto' shows those reasons anyway)."
        ),
        func=lazy_load_command(f"{_COMMANDS}.plan"),
        args=(ARG_DAG, ARG_PLAN_POOL, ARG_AUTO, ARG_PLAN_GPUS, ARG_VERBOSE),
    )
    return [
        GroupCommand(
            name="dististage",
            help="airflow-dististage pipelines: GPU pool and load-stage plans",
            subcommands=(pools, plan),
        )
    ]
