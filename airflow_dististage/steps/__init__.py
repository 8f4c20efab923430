"""Steps and their building blocks, named as in ``distilabel.steps``."""

from __future__ import annotations

from airflow_dististage.steps.base import GeneratorStep, GlobalStep, Step, StepInput
from airflow_dististage.steps.columns.combine import CombineOutputs
from airflow_dististage.steps.columns.expand import ExpandColumns
from airflow_dististage.steps.columns.group import CombineColumns, GroupColumns
from airflow_dististage.steps.columns.keep import KeepColumns
from airflow_dististage.steps.columns.merge import MergeColumns
from airflow_dististage.steps.decorator import step
from airflow_dististage.steps.formatting.conversation import ConversationTemplate
from airflow_dististage.steps.formatting.dpo import FormatChatGenerationDPO, FormatTextGenerationDPO
from airflow_dististage.steps.formatting.sft import FormatChatGenerationSFT, FormatTextGenerationSFT
from airflow_dististage.steps.generators.data import LoadDataFromDicts
from airflow_dististage.steps.generators.huggingface import LoadDataFromDisk, LoadDataFromFileSystem, LoadDataFromHub
from airflow_dististage.steps.resources import StepResources
from airflow_dististage.typing import GeneratorStepOutput, StepOutput

__all__ = [
    "CombineColumns",
    "CombineOutputs",
    "ConversationTemplate",
    "ExpandColumns",
    "FormatChatGenerationDPO",
    "FormatChatGenerationSFT",
    "FormatTextGenerationDPO",
    "FormatTextGenerationSFT",
    "GeneratorStep",
    "GeneratorStepOutput",
    "GlobalStep",
    "GroupColumns",
    "KeepColumns",
    "LoadDataFromDicts",
    "LoadDataFromDisk",
    "LoadDataFromFileSystem",
    "LoadDataFromHub",
    "MergeColumns",
    "Step",
    "StepInput",
    "StepOutput",
    "StepResources",
    "step",
]
