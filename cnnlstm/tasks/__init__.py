"""Tasks: loss + metrics objects that tell the one trainer what a problem needs."""

from cnnlstm.tasks.base import StepOutput, Task
from cnnlstm.tasks.classification import Classification

__all__ = ["Classification", "StepOutput", "Task"]
