"""moo_lenient: multi-objective gradient optimization for PyTorch.

Wrap any ``torch.optim`` optimizer in :class:`MultiObjectiveOptimizer`, pick a method
(:class:`PLC`, :class:`MGDA`, :class:`PCGrad`, :class:`SmoothTchebycheff`,
:class:`LinearScalarization`) and call ``opt.step(losses)`` with one loss per objective.
"""

from moo_lenient.methods import (
    MGDA,
    PLC,
    AggregationResult,
    LinearScalarization,
    Method,
    PCGrad,
    PreferenceIgnoredWarning,
    SmoothTchebycheff,
    available,
)
from moo_lenient.optimizer import MultiObjectiveOptimizer, StepInfo

__version__ = "0.1.0"

__all__ = [
    "MGDA",
    "PLC",
    "AggregationResult",
    "LinearScalarization",
    "Method",
    "MultiObjectiveOptimizer",
    "PCGrad",
    "PreferenceIgnoredWarning",
    "SmoothTchebycheff",
    "StepInfo",
    "__version__",
    "available",
]
