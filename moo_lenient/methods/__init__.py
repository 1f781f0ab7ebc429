"""Multi-objective aggregation methods: one method per file, a Gramian -> weights map each.

``available()`` lists the registered names; ``get("plc", horizon=1000)`` builds one by name.
"""

from __future__ import annotations

from typing import Any

from moo_lenient.methods.aligned_mtl import AlignedMTL
from moo_lenient.methods.base import (
    PROPERTIES,
    AggregationResult,
    Method,
    PreferenceIgnoredWarning,
)
from moo_lenient.methods.cagrad import CAGrad
from moo_lenient.methods.dualproj import DualProj
from moo_lenient.methods.epo import EPO
from moo_lenient.methods.famo import FAMO
from moo_lenient.methods.imtlg import IMTLG
from moo_lenient.methods.linear_scalarization import LinearScalarization
from moo_lenient.methods.mgda import MGDA
from moo_lenient.methods.nash_mtl import NashMTL
from moo_lenient.methods.pcgrad import PCGrad
from moo_lenient.methods.plc import PLC
from moo_lenient.methods.stch import SmoothTchebycheff
from moo_lenient.methods.upgrad import UPGrad

_REGISTRY: dict[str, type[Method]] = {
    cls.name: cls
    for cls in (
        LinearScalarization,
        MGDA,
        PCGrad,
        PLC,
        SmoothTchebycheff,
        CAGrad,
        NashMTL,
        IMTLG,
        AlignedMTL,
        UPGrad,
        DualProj,
        FAMO,
        EPO,
    )
}


def available() -> list[str]:
    """Names of the registered methods, accepted by :func:`get` and the optimizer."""
    return sorted(_REGISTRY)


def get(name: str, **kwargs: Any) -> Method:
    """Build a method from its registered name (case-insensitive) and keyword arguments."""
    key = name.lower()
    if key not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; available: {available()}")
    return _REGISTRY[key](**kwargs)


__all__ = [
    "EPO",
    "FAMO",
    "IMTLG",
    "MGDA",
    "PLC",
    "PROPERTIES",
    "AggregationResult",
    "AlignedMTL",
    "CAGrad",
    "DualProj",
    "LinearScalarization",
    "Method",
    "NashMTL",
    "PCGrad",
    "PreferenceIgnoredWarning",
    "SmoothTchebycheff",
    "UPGrad",
    "available",
    "get",
]
