"""Tasks: loss + metrics objects that tell the one trainer what a problem needs."""

from cnnlstm.tasks.base import StepOutput, Task, TestReport
from cnnlstm.tasks.classification import Classification
from cnnlstm.tasks.frame_labelling import FrameLabelling
from cnnlstm.tasks.restoration import Restoration

__all__ = ["Classification", "FrameLabelling", "Restoration", "StepOutput", "Task", "TestReport"]
