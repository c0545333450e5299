"""Priority: P0..P3, a 0..100 score and the reasons a person can check."""

from triage_core.priority.agent import PriorityAgent, PriorityAssessment

__all__ = ["PriorityAgent", "PriorityAssessment"]
