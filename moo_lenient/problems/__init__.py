"""Problems with known Pareto fronts (differentiable, batched torch implementations)."""

from moo_lenient.problems.barrier import Barrier
from moo_lenient.problems.base import Problem
from moo_lenient.problems.breast_cancer import BreastCancerMTL
from moo_lenient.problems.digits import DigitsMTL
from moo_lenient.problems.dtlz import DTLZ2
from moo_lenient.problems.fonseca_fleming import VLMOP2, FonsecaFleming
from moo_lenient.problems.tabular import TabularMTL
from moo_lenient.problems.toy import PROTOCOLS, CAGradToy, ToyProtocol
from moo_lenient.problems.zdt import ZDT1, ZDT2, ZDT3

__all__ = [
    "DTLZ2",
    "PROTOCOLS",
    "VLMOP2",
    "ZDT1",
    "ZDT2",
    "ZDT3",
    "Barrier",
    "BreastCancerMTL",
    "CAGradToy",
    "DigitsMTL",
    "FonsecaFleming",
    "Problem",
    "TabularMTL",
    "ToyProtocol",
]
