"""Problems with known Pareto fronts."""

from moo_lenient.problems.toy import PROTOCOLS, CAGradToy, ToyProtocol

__all__ = ["PROTOCOLS", "CAGradToy", "ToyProtocol"]
