r"""General-purpose ODE-solver baseline for the RC-Spike accumulation phase (beyond the paper).

The v2 abstract frames DSTD's savings against ODE-based training, so the efficiency benchmark
(paper-spec §2.6) also trains the same single RC-Spike layer by integrating

.. math:: \dot v_i = g_i(t) - f_i(t)\,v_i,\qquad
    f_i(t)=\sum_j\beta_{ij}w_{ij}\,\theta(t-t_j),\quad g_i(t)=\sum_j w_{ij}\,\theta(t-t_j)

(paper Eq. 1/6 with α = 0, paper-spec §1.2) from v(0) = 0 to t = 1 with ``torchdiffeq``:
``odeint`` (backprop through the solver's operations) or ``odeint_adjoint`` (the adjoint ODE,
O(1) memory in the number of solver steps). Each right-hand-side evaluation is one matmul
over all inputs, O(N_in N_out) per sample.

Limitation (inherent to a Heaviside right-hand side, not to torchdiffeq): the solver sees
:math:`\theta(t-t_j)` only through its value, so the gradient with respect to the *input spike
times* is zero; only weight gradients are available. That suffices for this single-layer
benchmark (the input times are data) but not for multilayer training, which needs event
handling (EventProp-style) or DSTD.
"""

from __future__ import annotations

import torch

from pnnlib.core.neuron import beta_weight

__all__ = ["RCSpikeField", "rcspike_ode"]


class RCSpikeField(torch.nn.Module):
    r"""The vector field :math:`(t, v) \mapsto g(t) - f(t)\,v` for fixed input times.

    ``weight`` is registered as the module's parameter so ``odeint_adjoint`` can differentiate
    it; ``nfe`` counts right-hand-side evaluations.
    """

    def __init__(self, t_in: torch.Tensor, weight: torch.nn.Parameter, e_pos: float, e_neg: float):
        super().__init__()
        self.t_in = t_in
        self.weight = weight
        self.e_pos, self.e_neg = e_pos, e_neg
        self.nfe = 0

    def forward(self, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        active = (self.t_in <= t).to(v.dtype)  # θ(t − t_j), [B, N_in]
        w = self.weight
        fg = active @ torch.cat([beta_weight(w, self.e_pos, self.e_neg), w], 0).t()
        n_out = w.shape[0]
        return fg[:, n_out:] - fg[:, :n_out] * v


def rcspike_ode(
    t_in: torch.Tensor,
    weight: torch.nn.Parameter,
    e_pos: float,
    e_neg: float,
    *,
    adjoint: bool = False,
    method: str = "dopri5",
    rtol: float = 1e-3,
    atol: float = 1e-5,
) -> tuple[torch.Tensor, RCSpikeField]:
    """v(1) of the RC-Spike accumulation phase by a numerical ODE solver.

    Args:
        t_in: ``[B, N_in]`` input spike times (no gradient flows to them, see module docstring).
        weight: ``[N_out, N_in]`` parameter.
        e_pos, e_neg: reversal potentials E⁺ > 0 > E⁻.
        adjoint: use ``odeint_adjoint`` instead of backprop through the solver.
        method, rtol, atol: torchdiffeq solver and tolerances (adaptive ``dopri5`` by default).

    Returns:
        ``(v(1) [B, N_out], field)``; ``field.nfe`` counts the forward (and, after backward,
        adjoint) function evaluations.
    """
    from torchdiffeq import odeint, odeint_adjoint  # deferred: ~1 s of import for a baseline

    field = RCSpikeField(t_in, weight, e_pos, e_neg)
    v0 = t_in.new_zeros(t_in.shape[0], weight.shape[0])
    span = t_in.new_tensor([0.0, 1.0])
    if adjoint:
        v = odeint_adjoint(field, v0, span, method=method, rtol=rtol, atol=atol, adjoint_params=(weight,))
    else:
        v = odeint(field, v0, span, method=method, rtol=rtol, atol=atol)
    return v[-1], field
