"""A corpus of bad inputs across the optimizer, the methods, the metrics and the CLI.

Each case must fail with a clear error of the stated type whose message names the problem, and
the optimizer cases must leave parameters, ``.grad`` and every state exactly as they were.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from moo_lenient import MultiObjectiveOptimizer, PreferenceIgnoredWarning, metrics
from moo_lenient._validation import NonFiniteError
from moo_lenient.cli import main as cli_main
from moo_lenient.methods import get


@dataclass
class Rig:
    """A 3-objective model and optimizer that already took one step (K is fixed)."""

    w: torch.nn.Parameter
    opt: MultiObjectiveOptimizer
    used: list[torch.Tensor] | None = None  # the losses of the step already taken

    def losses(self, k: int = 3) -> list[torch.Tensor]:
        return [((self.w - i) ** 2).sum() for i in range(k)]


def rig(method: str = "plc", **kwargs) -> Rig:
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(4))
    opt = MultiObjectiveOptimizer(torch.optim.Adam([w], lr=0.1), method, total_steps=10, **kwargs)
    r = Rig(w, opt)
    r.used = r.losses()
    opt.step(r.used)
    return r


OPTIMIZER_CASES: dict[str, tuple[Callable[[Rig], object], type, str]] = {
    "wrong K": (
        lambda r: r.opt.step(r.losses(2)),
        ValueError,
        "got 2 losses but this optimizer has 3",
    ),
    "preference length": (
        lambda r: r.opt.step(r.losses(), preference=[0.5, 0.5]),
        ValueError,
        "preference",
    ),
    "negative preference": (
        lambda r: r.opt.step(r.losses(), preference=[1, -1, 1]),
        ValueError,
        "preference",
    ),
    "zero preference": (
        lambda r: r.opt.step(r.losses(), preference=[0, 0, 0]),
        ValueError,
        "preference",
    ),
    "NaN preference": (
        lambda r: r.opt.step(r.losses(), preference=[1, float("nan"), 1]),
        ValueError,
        "preference",
    ),
    "string preference": (
        lambda r: r.opt.step(r.losses(), preference="0.5,0.5"),
        (TypeError, ValueError),
        "preference",
    ),
    "non-scalar loss": (
        lambda r: r.opt.step([r.w * 1.0, *r.losses()[1:]]),
        ValueError,
        "loss 0 is not a scalar",
    ),
    "2-D loss tensor": (
        lambda r: r.opt.step(torch.stack(r.losses())[None]),
        ValueError,
        "must be 1-D",
    ),
    "empty losses": (lambda r: r.opt.step([]), ValueError, "losses is empty"),
    "non-tensor loss": (
        lambda r: r.opt.step([1.0, *r.losses()[1:]]),
        TypeError,
        "loss 0 is not a tensor",
    ),
    "string losses": (lambda r: r.opt.step("loss"), TypeError, "losses must be"),
    "NaN loss": (
        lambda r: r.opt.step([r.losses()[0] * float("nan"), *r.losses()[1:]]),
        NonFiniteError,
        r"loss of objective\(s\) \[0\]",
    ),
    "inf gradient": (
        lambda r: r.opt.step([*r.losses()[:2], (r.w * 0.0).sqrt().sum()]),  # sqrt'(0) = inf
        NonFiniteError,
        r"gradient of objective\(s\) \[2\]",
    ),
    "detached losses": (
        lambda r: r.opt.step([loss.detach() for loss in r.losses()]),
        ValueError,
        "no loss requires grad",
    ),
    "a detached loss beside attached ones": (
        lambda r: r.opt.step([r.losses()[0], r.losses()[1].detach(), r.losses()[2]]),
        ValueError,
        r"objective\(s\) \[1\] is not attached",
    ),
    "a constant loss beside attached ones": (
        lambda r: r.opt.step([*r.losses()[:2], torch.tensor(1.0)]),
        ValueError,
        r"objective\(s\) \[2\] is not attached",
    ),
    "graph reused": (lambda r: r.opt.step(r.used), RuntimeError, "graph was already used"),
    "values length": (lambda r: r.opt.step(r.losses(), values=[1.0, 2.0]), ValueError, "values"),
    "NaN values": (
        lambda r: r.opt.step(r.losses(), values=[1.0, float("nan"), 2.0]),
        ValueError,
        "values",
    ),
    "active length": (
        lambda r: r.opt.step(r.losses(), active=[True, False]),
        ValueError,
        "active must be 3 booleans",
    ),
    "active not boolean": (
        lambda r: r.opt.step(r.losses(), active=[1, 0, 1]),
        ValueError,
        "active must be 3 booleans",
    ),
    "non-scalar regularizer": (
        lambda r: r.opt.step(r.losses(), regularizer=r.w * 1.0),
        ValueError,
        "regularizer must be a scalar",
    ),
    "NaN regularizer": (
        lambda r: r.opt.step(r.losses(), regularizer=r.w.sum() * float("nan")),
        NonFiniteError,
        "regularizer is not finite",
    ),
    "step without losses": (lambda r: r.opt.step(), RuntimeError, "needs a previous backward"),
    "regularizer without losses": (
        lambda r: r.opt.step(regularizer=r.w.sum()),
        ValueError,
        "go with losses",
    ),
    "state dict of another method": (
        lambda r: r.opt.load_state_dict({**r.opt.state_dict(), "method_name": "mgda"}),
        ValueError,
        "state dict is for method 'mgda'",
    ),
    "state dict of another K": (
        lambda r: r.opt.load_state_dict({**r.opt.state_dict(), "num_objectives": 2}),
        ValueError,
        "state dict is for 2 objectives",
    ),
    "not a state dict": (lambda r: r.opt.load_state_dict({"step": 1}), ValueError, "missing"),
    "features outside features mode": (
        lambda r: r.opt.step(r.losses(), features=r.w * 1.0),
        ValueError,
        "features= goes with",
    ),
}


@pytest.mark.parametrize("case", list(OPTIMIZER_CASES))
def test_optimizer_case_fails_cleanly_and_changes_nothing(case):
    action, error, message = OPTIMIZER_CASES[case]
    _fails_cleanly(rig(), action, error, message)


def _fails_cleanly(r: Rig, action: Callable[[Rig], object], error: type, message: str) -> None:
    """``action`` raises ``error`` matching ``message`` and leaves every trainable parameter,
    its ``.grad`` and the optimizer's whole state dict exactly as they were."""
    params = r.opt.trainable_parameters()
    values = [p.detach().clone() for p in params]
    grads = [p.grad.clone() for p in params]
    state = copy.deepcopy(r.opt.state_dict())
    with pytest.raises(error, match=message):
        action(r)
    assert all(torch.equal(p, q) for p, q in zip(params, values, strict=True))
    for p, g in zip(params, grads, strict=True):
        assert p.grad is not None and torch.equal(p.grad, g)
    assert _same(r.opt.state_dict(), state)


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _params():
    return [torch.nn.Parameter(torch.zeros(2))]


CONSTRUCTION_CASES: dict[str, tuple[Callable[[], object], type, str]] = {
    "LBFGS": (lambda: MultiObjectiveOptimizer(torch.optim.LBFGS(_params())), TypeError, "LBFGS"),
    "not an optimizer": (
        lambda: MultiObjectiveOptimizer(object()),
        TypeError,
        "torch.optim.Optimizer",
    ),
    "unknown method name": (
        lambda: MultiObjectiveOptimizer(torch.optim.SGD(_params(), lr=0.1), "adam"),
        ValueError,
        "adam",
    ),
    "total_steps 0": (
        lambda: MultiObjectiveOptimizer(torch.optim.SGD(_params(), lr=0.1), total_steps=0),
        ValueError,
        "total_steps",
    ),
    "total_steps vs horizon": (
        lambda: MultiObjectiveOptimizer(
            torch.optim.SGD(_params(), lr=0.1), get("plc", horizon=5), total_steps=6
        ),
        ValueError,
        "disagrees",
    ),
    "foreign shared_params": (
        lambda: MultiObjectiveOptimizer(
            torch.optim.SGD(_params(), lr=0.1), shared_params=_params()
        ),
        ValueError,
        "not trainable parameters",
    ),
    "empty shared_params": (
        lambda: MultiObjectiveOptimizer(torch.optim.SGD(_params(), lr=0.1), shared_params=[]),
        ValueError,
        "shared_params is empty",
    ),
    "bad jacobian_mode": (
        lambda: MultiObjectiveOptimizer(torch.optim.SGD(_params(), lr=0.1), jacobian_mode="fast"),
        ValueError,
        "jacobian_mode must be one of",
    ),
    "bad on_nonfinite": (
        lambda: MultiObjectiveOptimizer(torch.optim.SGD(_params(), lr=0.1), on_nonfinite="ignore"),
        ValueError,
        "on_nonfinite must be one of",
    ),
    "no trainable parameters": (
        lambda: MultiObjectiveOptimizer(torch.optim.SGD([torch.zeros(2)], lr=0.1)),
        ValueError,
        "no trainable parameters",
    ),
    "unknown registry name": (lambda: get("nope"), ValueError, "nope"),
    "PLC negative kappa0": (lambda: get("plc", kappa0=-1.0), ValueError, "kappa0"),
    "PLC ideal above nadir": (
        lambda: get("plc", ideal=[1.0, 1.0], nadir=[0.0, 2.0]),
        ValueError,
        "nadir",
    ),
    "PLC unknown voices": (lambda: get("plc", voices="loud"), ValueError, "voices"),
    "CAGrad negative c": (lambda: get("cagrad", c=-0.1), ValueError, "c"),
    "FAMO non-positive beta": (lambda: get("famo", beta=0.0), ValueError, "beta"),
    "EPO non-positive eps": (lambda: get("epo", eps=0.0), ValueError, "eps"),
    "PCGrad bad seed": (lambda: get("pcgrad", seed="x"), ValueError, "seed must be"),
    "grad_scaler not a GradScaler": (
        lambda: MultiObjectiveOptimizer(torch.optim.SGD(_params(), lr=0.1), grad_scaler=2.0**16),
        TypeError,
        "grad_scaler must be a torch.amp.GradScaler",
    ),
    "grad_scaler in a weighted-backward mode": (
        lambda: MultiObjectiveOptimizer(
            torch.optim.SGD(_params(), lr=0.1),
            jacobian_mode="gramian",
            grad_scaler=torch.amp.GradScaler("cpu"),
        ),
        ValueError,
        "grad_scaler is supported with jacobian_mode 'params' or 'params_batched'",
    ),
}


@pytest.mark.parametrize("case", list(CONSTRUCTION_CASES))
def test_construction_case_fails_cleanly(case):
    action, error, message = CONSTRUCTION_CASES[case]
    with pytest.raises(error, match=message):
        action()


def mode_rig(mode: str) -> Rig:
    """A 3-objective rig in the features or subset mode: w is shared (the features are
    ``w * 1``, the subset is [w]), v is a second parameter only the ``head`` loss reaches."""
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(4))
    v = torch.nn.Parameter(torch.randn(4))
    kw = {"subset_params": [w]} if mode == "subset" else {}
    opt = MultiObjectiveOptimizer(
        torch.optim.Adam([w, v], lr=0.1), "mgda", jacobian_mode=mode, **kw
    )
    r = Rig(w, opt)
    r.v = v
    z = w * 1.0
    opt.step([((z * v - i) ** 2).sum() for i in range(3)], **_features(mode, z))
    return r


def _features(mode: str, z: torch.Tensor) -> dict:
    return {"features": z} if mode == "features" else {}


def _features_step(r: Rig, losses: Callable[[torch.Tensor], list[torch.Tensor]]):
    """A features-mode step on the features z = w * 1 with the losses built from z."""
    z = r.w * 1.0
    return r.opt.step(losses(z), features=z)


MODE_CASES: dict[str, tuple[str, Callable[[Rig], object], type, str]] = {
    "features the losses do not depend on": (
        "features",
        lambda r: r.opt.step(
            [((r.w * r.v - i) ** 2).sum() for i in range(3)],
            features=torch.randn(4, requires_grad=True),
        ),
        ValueError,
        r"objective\(s\) \[0, 1, 2\] does not depend on features",
    ),
    "features one loss does not depend on": (
        "features",
        lambda r: _features_step(r, lambda z: [((z - 1) ** 2).sum(), (r.v**2).sum(), z.sum()]),
        ValueError,
        r"objective\(s\) \[1\] does not depend on features",
    ),
    "subset_params a loss does not reach": (
        "subset",
        lambda r: r.opt.step([((r.w - 1) ** 2).sum(), (r.v**2).sum(), (r.w**2).sum()]),
        ValueError,
        r"objective\(s\) \[1\] does not depend on any of subset_params",
    ),
    "a detached loss in the features mode": (
        "features",
        lambda r: _features_step(r, lambda z: [(z**2).sum(), (z**2).sum().detach(), z.sum()]),
        ValueError,
        r"objective\(s\) \[1\] is not attached",
    ),
}


@pytest.mark.parametrize("case", list(MODE_CASES))
def test_mode_case_fails_cleanly_and_changes_nothing(case):
    mode, action, error, message = MODE_CASES[case]
    _fails_cleanly(mode_rig(mode), action, error, message)


#: Silent no-ops that now warn (the call still works: the method ignores the preference).
WARNING_CASES: dict[str, tuple[Callable[[], object], type, str]] = {
    "non-uniform preference to MGDA": (
        lambda: MultiObjectiveOptimizer(
            torch.optim.SGD(_params(), lr=0.1), "mgda", preference=[0.7, 0.3]
        ),
        PreferenceIgnoredWarning,
        "MGDA.*ignores the preference",
    ),
    "per-step preference to FAMO": (
        lambda: (r := rig("famo")).opt.step(r.losses(), preference=[0.2, 0.2, 0.6]),
        PreferenceIgnoredWarning,
        "FAMO.*ignores the preference",
    ),
    "preference set on an IMTL-G optimizer": (
        lambda: setattr(rig("imtlg").opt, "preference", [0.5, 0.4, 0.1]),
        PreferenceIgnoredWarning,
        "IMTLG.*ignores the preference",
    ),
}


@pytest.mark.parametrize("case", list(WARNING_CASES))
def test_warning_case_warns(case):
    action, warning, message = WARNING_CASES[case]
    with pytest.warns(warning, match=message):
        action()


J = torch.tensor([[1.0, 0.0, 2.0], [0.5, 1.0, -1.0]])
METHOD_CASES: dict[str, tuple[Callable[[], object], type, str]] = {
    "NaN Jacobian": (
        lambda: get("mgda")(J * float("nan")),
        NonFiniteError,
        r"objective\(s\) \[0, 1\]",
    ),
    "1-D Jacobian": (lambda: get("upgrad")(J[0]), ValueError, r"shape \(K, d\)"),
    "integer Jacobian": (lambda: get("ls")(J.long()), TypeError, "floating point"),
    "non-square Gramian": (lambda: get("mgda").weights(np.ones((2, 3))), ValueError, "square"),
    "NaN Gramian": (
        lambda: get("mgda").weights(np.full((2, 2), np.nan)),
        ValueError,
        "gramian is not finite",
    ),
    "preference length": (lambda: get("plc")(J, preference=[1.0]), ValueError, "preference"),
    "STCH without values": (lambda: get("stch")(J), ValueError, "losses="),
    "FAMO value below its bound": (
        lambda: get("famo")(J, losses=[1.0, -1.0]),
        ValueError,
        r"objective\(s\) \[1\]",
    ),
    "EPO negative value": (
        lambda: get("epo")(J, losses=[1.0, -1.0]),
        ValueError,
        r"objective\(s\) \[1\]",
    ),
    "PLC value below lower bound": (
        lambda: get("plc", lower_bound=[0.0, 0.0], horizon=9)(J, losses=[-5.0, 0.5]),
        ValueError,
        "lower bound|ideal|below",
    ),
    "PLC foreign state": (lambda: get("plc").load_state_dict({"t": 3}), ValueError, "missing"),
    "stateless method given state": (
        lambda: get("mgda").load_state_dict({"x": 1}),
        ValueError,
        "stateless",
    ),
}


@pytest.mark.parametrize("case", list(METHOD_CASES))
def test_method_case_fails_cleanly(case):
    action, error, message = METHOD_CASES[case]
    with pytest.raises(error, match=message):
        action()


P = np.array([[0.2, 0.8], [0.5, 0.5]])
METRIC_CASES: dict[str, tuple[Callable[[], object], type, str]] = {
    "HV NaN points": (lambda: metrics.hypervolume(P * np.nan, np.ones(2)), ValueError, "finite"),
    "HV reference size": (lambda: metrics.hypervolume(P, np.ones(3)), ValueError, "reference"),
    "HV empty points": (
        lambda: metrics.hypervolume(np.zeros((0, 2)), np.ones(2)),
        ValueError,
        "non-empty",
    ),
    "IGD objectives differ": (lambda: metrics.igd(P, np.ones((4, 3))), ValueError, "objectives"),
    "PC shapes differ": (
        lambda: metrics.preference_compliance(np.ones((3, 2)), P),
        ValueError,
        "same shape",
    ),
}


@pytest.mark.parametrize("case", list(METRIC_CASES))
def test_metric_case_fails_cleanly(case):
    action, error, message = METRIC_CASES[case]
    with pytest.raises(error, match=message):
        action()


CLI_CASES = {
    "bench unknown suite": (["bench", "--suite", "huge"], "unknown suite"),
    "bench unknown method": (["bench", "--methods", "adam"], "unknown method"),
    "bench zero seeds": (["bench", "--seeds", "0"], "positive integer"),
    "bench text steps": (["bench", "--steps", "ten"], "positive integer"),
    "align bad preference": (["align", "--preference", "0.6,x"], "comma-separated numbers"),
    "align negative steps": (["align", "--steps", "-3"], "positive integer"),
    "align unknown method": (["align", "--method", "adam", "--steps", "1"], "adam"),
    "unknown command": (["train"], "invalid choice"),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_case_exits_2_with_a_message_and_no_traceback(case, capsys):
    argv, message = CLI_CASES[case]
    with pytest.raises(SystemExit) as exc:
        cli_main([*argv, "--no-progress"] if argv[0] == "bench" else argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_the_corpus_has_at_least_forty_cases():
    total = sum(
        len(c)
        for c in (
            OPTIMIZER_CASES,
            CONSTRUCTION_CASES,
            MODE_CASES,
            WARNING_CASES,
            METHOD_CASES,
            METRIC_CASES,
            CLI_CASES,
        )
    )
    assert total >= 80
