r"""Exact solutions of the IMC-aware neuron (paper-spec §1.2–§1.5, §1.7).

The membrane of neuron *i* obeys (paper Eq. 1/6, α = 0, non-leaky)

.. math::

    \dot v_i = -f_i(t)\,v_i + g_i(t),\qquad
    f_i(t)=\sum_j \beta_{ij} w_{ij}\,\theta(t-t_j),\qquad
    g_i(t)=\sum_j w_{ij}\,\theta(t-t_j),

with :math:`\beta_{ij}=1/E^+` for :math:`w_{ij}\ge 0` and :math:`1/E^-` for :math:`w_{ij}<0`,
so that each active synapse drives the current :math:`w_{ij}(1-\beta_{ij}v)` and
:math:`f\ge 0`. Between consecutive sorted input spikes f and g are constant and the
solution is the closed-form exponential step (paper Eq. 33)

.. math::

    v_{k+1} = v_k\,e^{-f_k\Delta_k} + g_k\,\frac{1-e^{-f_k\Delta_k}}{f_k},

evaluated with a safe ``expm1``-based :math:`(1-e^{-f\Delta})/f` whose :math:`f\to0` limit is
:math:`\Delta` (no :math:`g/f` blow-up, no NaN gradients).

Shapes follow ``torch.nn.functional.linear``: ``t_in`` is ``[B, N_in]``, ``weight`` is
``[N_out, N_in]`` and results are ``[B, N_out]``. A time of ``+inf`` means "no spike"; a
time before the window start (t < 0, e.g. an early spike moved by the spike-time noise) counts
as arriving at t = 0, here and in the DSTD solvers of :mod:`pnnlib.core.dstd`.
"""

from __future__ import annotations

import math

import torch

from pnnlib.core.checks import check_reversal, check_threshold, check_times_weight, check_window_end

__all__ = [
    "beta_weight",
    "rcspike_exact",
    "rcspike_fire_time",
    "rcspike_ideal_fire_time",
    "ttfs_exact",
]

_SERIES_X = 1e-3  # below this |x| the truncated Taylor series is exact to float64 rounding


def beta_weight(weight: torch.Tensor, e_pos: float, e_neg: float) -> torch.Tensor:
    r"""Return :math:`\beta\circ W` (always ≥ 0): ``w/e_pos`` where ``w ≥ 0``, ``w/e_neg`` else.

    ``e_pos = inf`` / ``e_neg = -inf`` give the ideal limit β = 0. With symmetric reversal
    potentials (E⁻ = −E⁺, all the paper's ML runs) this is :math:`|W|/E^+`, one elementwise pass
    forward and backward instead of a ``where`` over the weight matrix (a quarter of an MLP
    training step on the CPU).
    """
    if float(e_neg) == -float(e_pos):
        return weight.abs() / float(e_pos)
    return torch.where(weight >= 0, weight / float(e_pos), weight / float(e_neg))


def phi(f: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    r""":math:`(1-e^{-f\Delta})/f`, with the :math:`f\to0` limit :math:`\Delta` (f ≥ 0, Δ ≥ 0 finite).

    Both branches of the ``torch.where`` are finite everywhere, so gradients stay finite.
    """
    x = f * width
    small = x < _SERIES_X
    f_safe = torch.where(small, torch.ones_like(f), f)
    exact = -torch.expm1(-x) / f_safe
    series = width * (1.0 - x / 2.0 + x * x / 6.0)
    return torch.where(small, series, exact)


def log1p_over_x(x: torch.Tensor) -> torch.Tensor:
    r""":math:`\ln(1+x)/x` for x > −1, with the limit 1 at x → 0 (finite gradients)."""
    small = x.abs() < _SERIES_X
    x_safe = torch.where(small, torch.ones_like(x), x)
    exact = torch.log1p(x_safe) / x_safe
    series = 1.0 - x / 2.0 + x * x / 3.0
    return torch.where(small, series, exact)


def v_end_scan(f: torch.Tensor, g: torch.Tensor, width: torch.Tensor, dim: int) -> torch.Tensor:
    r"""Membrane potential after a chain of constant-coefficient intervals, v = 0 at the start.

    Closed product form of the recursion (paper Eqs. 16/22/23, 39/40) in log space:

    .. math:: v_{end} = \sum_k g_k\,\phi(f_k,\Delta_k)\,\exp\Big(-\sum_{q>k} f_q\Delta_q\Big),

    where every exponent is ≤ 0, so nothing overflows. ``f``, ``g`` and ``width`` broadcast
    together; intervals run along ``dim``.
    """
    fd = f * width
    # R_k = sum_{q>k} f_q Δ_q: exclusive reverse cumulative sum along `dim`.
    rev = torch.flip(torch.cumsum(torch.flip(fd, (dim,)), dim), (dim,))
    tail = rev.narrow(dim, 1, rev.shape[dim] - 1)
    zero = torch.zeros_like(rev.narrow(dim, 0, 1))
    r_excl = torch.cat([tail, zero], dim)
    return (g * phi(f, width) * torch.exp(-r_excl)).sum(dim)


def v_end_recursion(f: torch.Tensor, g: torch.Tensor, width: torch.Tensor, dim: int) -> torch.Tensor:
    """The same quantity as :func:`v_end_scan` by the sequential recursion of paper Eq. 33."""
    f, g, width = torch.broadcast_tensors(f, g, width)
    decay = torch.exp(-f * width)
    drive = g * phi(f, width)
    v = torch.zeros_like(f.select(dim, 0))
    # unbind (one backward node) rather than select/index per step: indexing in the loop makes
    # the backward O(N_in) per step, i.e. O(N_in^2) in total.
    for d_k, r_k in zip(decay.unbind(dim), drive.unbind(dim)):
        v = v * d_k + r_k
    return v


def _sorted_coefficients(
    t_in: torch.Tensor, weight: torch.Tensor, e_pos: float, e_neg: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sort inputs per sample; return sorted times [B, N_in] and cumulative f, g [B, N_in, N_out].

    Also returns the sort order. ``f[b, k, i]`` and ``g[b, k, i]`` hold on the interval that
    starts at the k-th earliest input of sample b.
    """
    t_sorted, order = torch.sort(t_in, dim=1)
    w_t = weight.t()  # [N_in, N_out]
    w_sorted = w_t[order]  # [B, N_in, N_out]
    bw_sorted = beta_weight(w_t, e_pos, e_neg)[order]
    return t_sorted, torch.cumsum(bw_sorted, 1), torch.cumsum(w_sorted, 1), order


def rcspike_exact(
    t_in: torch.Tensor,
    weight: torch.Tensor,
    e_pos: float,
    e_neg: float,
    *,
    t_end: float = 1.0,
    method: str = "scan",
    check: bool = True,
) -> torch.Tensor:
    r"""Exact membrane potential :math:`v_i(t_{end})` of the RC-Spike accumulation phase (§1.3–§1.4).

    Algorithm 1 of the paper: sort the input times, build the piecewise-constant
    :math:`f_{ik}=\sum_{q\le k}\beta_{iq}\hat w_{iq}` and :math:`g_{ik}=\sum_{q\le k}\hat w_{iq}`,
    and chain the exact exponential steps from :math:`v(0)=0` to the window end.

    Args:
        t_in: input spike times ``[B, N_in]``; times are clamped to ``[0, t_end]``, so a time
            ``≥ t_end`` (or ``+inf``) contributes nothing.
        weight: ``[N_out, N_in]``.
        e_pos, e_neg: normalised reversal potentials :math:`E^+>0>E^-` (``±inf`` = ideal).
        t_end: end of the accumulation window (1 in the paper; smaller values give the
            trajectory :math:`v(t_{end})`), in [0, :data:`~pnnlib.core.checks.MAX_TIME`].
        method: ``"scan"`` (vectorised closed form, default) or ``"recursion"`` (the paper's
            sequential Eq. 33 over the sorted inputs). Both are exact and agree to rounding.
        check: validate arguments (raises ``ValueError`` naming the argument): floating-point
            tensors of one dtype, N_in >= 1, finite weights, no NaN or −inf times, E⁺ > 0 > E⁻,
            ``t_end``, ``method``.

    Returns:
        :math:`v(t_{end})`, shape ``[B, N_out]``.
    """
    if check:
        check_times_weight(t_in, weight)
        check_reversal(e_pos, e_neg)
        check_window_end(t_end, "t_end", allow_zero=True)
        if method not in ("scan", "recursion"):
            raise ValueError(f"method must be 'scan' or 'recursion', got {method!r}")
    t = t_in.clamp(0.0, t_end)
    t_sorted, f, g, _ = _sorted_coefficients(t, weight, e_pos, e_neg)
    t_next = torch.cat([t_sorted[:, 1:], t_sorted.new_full((t.shape[0], 1), t_end)], 1)
    width = (t_next - t_sorted).unsqueeze(-1)  # [B, N_in, 1]
    solve = v_end_scan if method == "scan" else v_end_recursion
    return solve(f, g, width, dim=1)


def rcspike_fire_time(v_end: torch.Tensor, e_dis: float | None = None) -> torch.Tensor:
    r"""Firing-phase readout of the RC-Spike neuron (§1.4, §1.7).

    Ideal ramp :math:`\dot v = 1`: :math:`t = \mathrm{clip}_{[0,1]}(1-v)`.

    With the discharge non-ideality (:math:`\dot v=\alpha(1-\beta_{dis}v)`,
    :math:`\beta_{dis}=1/E_{dis}`, α chosen so that v = 0 reaches 1 at t = 1):

    .. math:: t=\frac{\ln(1-\beta)-\ln(1-\beta v)}{\ln(1-\beta)},

    clipped to [0, 1]. Requires :math:`E_{dis} > 1`.
    """
    if e_dis is None or math.isinf(e_dis):
        return (1.0 - v_end).clamp(0.0, 1.0)
    if not e_dis > 1.0:
        raise ValueError(f"e_dis must be > 1 (the ramp must reach threshold), got {e_dis}")
    beta = 1.0 / float(e_dis)
    log1mb = math.log1p(-beta)
    v = v_end.clamp(max=1.0)  # v > 1 fires at t = 0 anyway; keeps the log finite
    return (1.0 - torch.log1p(-beta * v) / log1mb).clamp(0.0, 1.0)


def rcspike_ideal_fire_time(t_in: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    r"""The |E| → ∞ limit: :math:`t_i=\mathrm{clip}(1-\sum_j w_{ij}(1-t_j))` (§1.4), an ANN with
    hard-sigmoid activation on :math:`x = 1-t`."""
    x = 1.0 - t_in.clamp(0.0, 1.0)
    return (1.0 - x @ weight.t()).clamp(0.0, 1.0)


def first_crossing(
    t_start: torch.Tensor,
    f: torch.Tensor,
    g: torch.Tensor,
    v_start: torch.Tensor,
    width: torch.Tensor,
    v_th: float,
    dim: int,
) -> torch.Tensor:
    r"""First threshold crossing over a chain of constant-coefficient intervals (§1.5).

    Interval k starts at ``t_start[k]`` with potential ``v_start[k] < v_th`` and lasts
    ``width[k]`` (``inf`` allowed for the last). Within it
    :math:`v(t)=u+(v_k-u)e^{-f(t-t_k)}`, :math:`u=g/f`, which crosses :math:`V_{th}` after

    .. math:: \tau=\frac{1}{f}\ln\frac{g-f v_k}{g-f V_{th}}
        =\frac{V_{th}-v_k}{g-fV_{th}}\,\frac{\ln(1+x)}{x},\quad x=\frac{f(V_{th}-v_k)}{g-fV_{th}},

    when :math:`g-fV_{th}>0` (asymptote above threshold; for f = 0 it is g > 0). Returns the
    time of the first interval whose crossing lies inside it, or ``+inf`` (reduces ``dim``).
    """
    denom = g - f * v_th
    num = v_th - v_start
    valid = (denom > 0) & (num >= 0)
    denom_s = torch.where(valid, denom, torch.ones_like(denom))
    a = torch.where(valid, num, torch.zeros_like(num)) / denom_s
    tau = a * log1p_over_x(f * a)
    fires = valid & (tau <= width)
    any_fire = fires.any(dim, keepdim=True)
    first = torch.argmax(fires.to(torch.int8), dim=dim, keepdim=True)
    t_start, tau = torch.broadcast_tensors(t_start, tau)
    t_cross = torch.gather(t_start, dim, first) + torch.gather(tau, dim, first)
    t_cross = torch.where(any_fire, t_cross, torch.full_like(t_cross, math.inf))
    return t_cross.squeeze(dim)


def ttfs_exact(
    t_in: torch.Tensor,
    weight: torch.Tensor,
    e_pos: float,
    e_neg: float,
    v_th: float = 1.0,
    *,
    check: bool = True,
) -> torch.Tensor:
    r"""Exact first firing time of the TTFS neuron with reversal potentials (§1.5, Appendix C).

    Event-driven, no phases: the neuron integrates from :math:`v(0)=0` and fires once, at the
    first crossing of ``v_th`` (found analytically inside the inter-spike interval where it
    happens; the last interval extends to infinity). Never firing gives ``+inf``. The neuron can
    only fire if :math:`E^+ > V_{th}`. Input times of ``+inf`` mean "no input spike".
    ``check`` validates the arguments as in :func:`rcspike_exact` and ``v_th`` > 0.

    Returns:
        firing times ``[B, N_out]``.
    """
    if check:
        check_times_weight(t_in, weight)
        check_reversal(e_pos, e_neg)
        check_threshold(v_th)
    t_in = t_in.clamp(min=0.0)  # a spike before t = 0 arrives at 0, as in every solver
    finite = torch.isfinite(t_in)
    # Absent inputs: zero weight at the latest finite time, so their intervals have width 0.
    t_last = torch.where(finite, t_in, torch.full_like(t_in, -math.inf)).amax(1, keepdim=True)
    t_last = torch.where(torch.isfinite(t_last), t_last, torch.zeros_like(t_last))
    t = torch.where(finite, t_in, t_last)
    w_mask = finite.unsqueeze(-1)  # [B, N_in, 1]
    t_sorted, order = torch.sort(t, dim=1)
    w_t = weight.t()
    keep = torch.gather(w_mask.squeeze(-1), 1, order).unsqueeze(-1)
    w_sorted = torch.where(keep, w_t[order], torch.zeros((), dtype=weight.dtype, device=weight.device))
    bw_sorted = beta_weight(w_sorted, e_pos, e_neg)
    f = torch.cumsum(bw_sorted, 1)
    g = torch.cumsum(w_sorted, 1)
    width = (t_sorted[:, 1:] - t_sorted[:, :-1]).unsqueeze(-1)  # finite widths [B, N_in-1, 1]
    # Potentials at the start of each interval by the exact recursion (Eq. 33).
    decay = torch.exp(-f[:, :-1] * width)
    drive = g[:, :-1] * phi(f[:, :-1], width)
    v = torch.zeros_like(f[:, 0])
    starts = [v]
    for d_k, r_k in zip(decay.unbind(1), drive.unbind(1)):  # unbind: O(N_in) backward (see above)
        v = v * d_k + r_k
        starts.append(v)
    v_start = torch.stack(starts, 1)  # [B, N_in, N_out]
    inf = torch.full_like(t_sorted[:, :1], math.inf)
    widths = torch.cat([t_sorted[:, 1:] - t_sorted[:, :-1], inf], 1).unsqueeze(-1)
    return first_crossing(t_sorted.unsqueeze(-1), f, g, v_start, widths, v_th, dim=1)
