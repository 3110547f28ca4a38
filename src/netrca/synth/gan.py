"""FlowGAN: a conditional tabular GAN for flows (WGAN-GP, PacGAN, training-by-sampling).

The generator sees noise and a condition vector: the row's discrete *skeleton* (the
``root_cause`` class when the flows carry one, protocol, status, error code and port
tokens, one-hot). Training draws skeletons by the log of their frequency together with
real rows that have them (training-by-sampling, :mod:`netrca.synth.sampler`); generation
draws them by frequency, or fixes the class when asked. The skeleton is never generated:
``sample(n, conditions={"root_cause": "port_scan"})`` returns exactly ``n`` flows of that
class, without rejection sampling. The generator produces the other columns (numbers,
addresses, in-class ports, time) one head at a time, each head seeing the columns
already produced (:mod:`netrca.synth.networks`).

Losses: the WGAN-GP critic judges ``pac`` rows at a time (PacGAN). The generator also
minimises three auxiliary distances between its batch and real rows drawn for the same
conditions, on (columns, condition) jointly: a sliced Wasserstein distance, the
distance between second-moment matrices, and the difference of per-condition means
(for each skeleton token in the batch, the mean of every generated column and decoded
number over the rows that have it, weighted by the token's share of the batch). All are
cheap and give the generator a direct signal about conditional and pairwise structure,
which the critic alone conveys slowly on a CPU budget.

Training is step-based with early stopping on a fidelity signal (per-column KS / total
variation and a rank-correlation difference, measured every ``eval_every`` steps on a
fixed generated batch against the training data); the best generator is kept. The same
``random_state``, data and ``n_threads`` give the same model and the same samples
(deterministic algorithms on a fixed thread count; ``max_seconds`` stops on wall time
and therefore gives up that guarantee).
"""

from __future__ import annotations

import copy
import os
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from netrca.errors import ConfigError, InputError, ModelError
from netrca.synth._torch import require_torch, torch_settings
from netrca.synth.calibrate import Calibrator, TokenCalibrator
from netrca.synth.encoders import (
    CategoricalEncoder,
    IPEncoder,
    NumericEncoder,
    PortEncoder,
    TimeEncoder,
)
from netrca.synth.ranks import RankMatcher
from netrca.synth.sampler import WEIGHTINGS, SkeletonSampler
from netrca.synth.table import Encoded, FlowTable, TrainingSchema
from netrca.synth.validity import NAMED_RULES, ValidityRules

if TYPE_CHECKING:
    from netrca.synth.refine import Refiner

__all__ = ["FlowGAN", "SampleResult"]

_REFINER_ROWS = 50_000  # real (and as many generated) flows the refiner learns from
#: Size bounds of the generated sample the calibrator compares with the training flows.
_CALIBRATION_ROWS = (20_000, 100_000)
#: Second calibration maps (column, the column it is binned on; see Calibrator), applied
#: in this order: packets back per packets out (then bytes back per the packets back so
#: mapped), bytes out per packets out, the duration per packets back, the client port per
#: time.
_GIVEN = (
    ("packets_received", "packets_sent"),
    ("bytes_sent", "packets_sent"),
    ("bytes_received", "packets_received"),
    ("duration", "packets_received"),
    ("source_port", "timestamp"),
)
_REFINE_BLOCK = 100_000  # requested flows whose candidates are generated and scored together
_STAGE_CANDIDATES = 4  # candidates per flow in the samples a refiner's later stages learn from
_CHUNK = 4096  # rows per generator pass: small enough to stay in cache
#: Threads that run the generator's chunks side by side, one torch thread each: the
#: process's cores, at most this many (the samples do not depend on it).
_MAX_WORKERS = 8
#: How a class's generated flows share their positions in time: not at all, among the
#: class's flows, or among the flows of the same skeleton (see FlowGAN's ``pool_time``).
POOLING = ("none", "class", "skeleton")
_POOL_ROWS = 50_000  # training flows the time-pooling test uses at most
_POOL_MIN_ROWS = 100  # flows of a class on each side of the test, at least, to test it
_POOL_Z = 2.0  # the test's margin over 0.5, in standard errors of a null ROC-AUC
POSITION_BIN = 60.0  # seconds: the resolution of a class's stored positions in time


@dataclass
class SampleResult:
    """Generated flows and how valid the model's raw output was."""

    flows: pd.DataFrame
    raw_validity: float  # share of rows the model got right on every rule, before repair
    violations: dict[str, int] = field(default_factory=dict)  # rule -> rows repaired
    enforced: bool = True
    #: raw validity on the rules the issue names (status/error, protocol/port, ICMP)
    raw_validity_named_rules: float = 1.0


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    a = np.sort(a[~np.isnan(a)])
    b = np.sort(b[~np.isnan(b)])
    if not len(a) or not len(b):
        return 0.0 if len(a) == len(b) else 1.0
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / len(a)
    fb = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


def _numbers(enc: Any, parts: list[np.ndarray]) -> list[np.ndarray]:
    """Cheap numeric views of one encoder's parts (for the early-stopping signal)."""
    if isinstance(enc, NumericEncoder):  # bytes modelled per packet: compared per packet
        ones = np.ones(len(parts[0])) if enc.per is not None else None
        return [enc.decode(parts[0], parts[1] if len(parts) > 1 else None, ones)]
    if isinstance(enc, PortEncoder):
        return [enc.decode(parts[0], parts[1] if len(parts) > 1 else None)]
    if isinstance(enc, TimeEncoder):
        k = 1 if len(enc.days) > 1 else 0
        nt = len(enc.tod.spans())
        tp, ip = parts[k : k + nt], parts[k + nt :]
        return [
            enc.tod.decode(tp[0], tp[1] if len(tp) > 1 else None),
            enc.iat.decode(ip[0], ip[1] if len(ip) > 1 else None),
        ]
    return []


def _sampling_workers() -> int:
    """Generator chunks run side by side when sampling: the cores this process may use,
    at most ``_MAX_WORKERS``."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, _MAX_WORKERS))


class FlowGAN:
    """Conditional tabular GAN for network flows.

    Parameters
    ----------
    max_steps : int
        Generator updates at most (one critic update per generator update by default).
    batch_size, pac : int
        Rows per step; the critic judges ``pac`` rows together (``batch_size`` is rounded
        down to a multiple of ``pac``).
    noise_dim, generator_dims, critic_dims : network sizes.
    lr, lr_final : float
        Adam learning rate (betas 0.5, 0.9), decayed along a cosine to ``lr * lr_final``
        at ``max_steps``.
    gp_weight : float
        Weight of the WGAN-GP gradient penalty.
    tau : float
        Temperature of the softmax / sigmoid whose gradients pass through the generator's
        exact one-hot and 0/1 outputs (straight-through).
    critic_lr, critic_dropout : the critic's learning rate (default: ``lr``) and dropout.
    sw_weight, sw_projections : the generator's auxiliary loss: the sliced Wasserstein
        distance between its batch and a real batch drawn under the same conditions, on
        every axis and ``sw_projections`` random directions (0 turns it off).
    sw_value_projections : int
        Further random directions of the sliced Wasserstein loss over the modelled numbers'
        standardised value proxies alone, so that their joint spread (how bytes, packets
        and duration move together) is matched and not diluted among the one-hot columns
        (0 turns it off; models saved before it existed load with 0).
    moment_weight : float
        Weight of a second auxiliary loss: the Frobenius distance between the batch
        second-moment (co-occurrence) matrices of generated and same-condition real rows,
        which targets pairwise dependence directly (0 turns it off).
    condition_weight : float
        Weight of the third auxiliary loss: for each condition token, the difference
        between the generated and the real means of every generated column (one-hots, bits,
        offsets) and decoded number, standardised, over the batch rows with that token, so
        that ``P(column | token)`` is matched, not just the marginal (0 turns it off; models
        saved before it existed load with 0).
    skeleton_weighting : {"sqrt", "frequency", "log"}
        How training draws skeletons within a class: in proportion to the square root of
        their frequency (default), to their frequency, or to its log (models saved before
        this option load with ``"log"``). Classes are drawn by the log of their frequency
        either way.
    eval_every, patience, eval_rows : early stopping: every ``eval_every`` steps the
        fidelity of ``eval_rows`` generated rows is measured; training stops after
        ``patience`` measurements without improvement and keeps the best generator.
    max_seconds : float, optional
        Stop after this much training time (makes the result depend on machine speed).
    n_threads : int
        Torch threads for fitting (part of what makes a fit reproducible). One by
        default: two train 1.5x faster on an idle 2-core machine but several times
        slower when other jobs hold the cores (threads wait on each other), so
        ``n_threads=2`` is for a machine of its own (``make bench-gan`` trains so).
        Sampling runs the generator's chunks side by side on one thread per core (at
        most 8, one torch thread each; threads that do not wait on each other), and
        gives the same bytes on any number of them.
    columns, condition, max_addresses, max_ports, max_modes, time_modes, internal_networks,
    max_exact : passed to :class:`~netrca.synth.table.FlowTable` (``max_exact``: exact-value
        tokens per count at most; beyond the 8 most frequent only point masses, values
        more than twice as frequent as the integers within 10% of them (see
        :class:`~netrca.synth.encoders.NumericEncoder`); models saved before it existed
        were fitted with 8).
    standardise : bool
        Model each count and duration standardised by its skeleton's mean and standard
        deviation on the log scale (a skeleton with few rows shrunk towards its class's,
        a class towards all rows'), so the generator learns each number's shape around a
        known centre and spread instead of the centre and spread themselves (default;
        models saved before this option load with ``False``).
    refiner : bool
        After training, fit a classifier of real vs generated flows (gradient-boosted
        trees on each flow's view, stored as arrays) that sampling with ``candidates`` > 1
        uses to keep the most real-looking candidates (see :mod:`netrca.synth.refine`).
        A few seconds on 50k flows; models saved before it existed have none.
    refiner_stages : int
        Classifiers in the refiner (default 3): each stage after the first learns the
        training flows against what the stages before it pick from 4 candidates per flow,
        and the stages' log-odds are added (about 10 s more per stage on 50k flows; models
        saved before stages existed have one).
    pool_time : bool
        Test, class by class on the training flows, whether a flow's position in time (day
        and time of day) tells anything about the flow beyond its class, or beyond its
        skeleton; where it does not, the generator's positions are not used, so it cannot
        add a dependence the data do not have (time of day with an address, say): a class
        pooled by class draws its flows' positions from its training flows' positions
        counted per ``POSITION_BIN`` seconds (stored in the model as ``time_positions_``),
        one pooled by skeleton swaps its generated positions at random among the
        skeleton's flows. The test
        permutes half of the training flows' positions that way and asks the report's
        real-vs-synthetic classifier to tell them from the other half: the pooling is
        kept where its ROC-AUC stays within two standard errors of 0.5
        (``training_["time_pooling"]`` records each class's figures). Gaps between
        flows and everything else stay as generated, and training is the same either
        way (its fidelity signal judges the generator unpooled); the refiner learns
        from pooled samples (default on; models saved before it existed load with no
        pooling).
    calibrate : bool
        After training, calibrate the generator against the training flows per group
        (skeleton, else coarse skeleton, else class, whichever first has enough rows; see
        :mod:`netrca.synth.calibrate`): the client address is drawn with per-group logit
        offsets so its frequencies per group match (later columns are generated given
        it); counts, durations, latencies, client ports and positions in time are mapped
        onto the training quantiles (monotone, so each row keeps its rank and the
        generator's dependence between columns stays; zeros and exact ports stay as
        generated); then second maps: packets back per bin of packets out, bytes per bin
        of packets (bytes back per the packets back so mapped), the duration per bin of
        packets back, and the client port per bin of time. The refiner learns from
        calibrated samples (default on; models saved before it existed load without
        calibration, and models saved before the token offsets and second maps load with
        the maps they have).
    match_ranks : bool
        After calibration, in each class with at least 5,000 training flows, reorder the
        sampled counts, durations, latencies and client ports among their rows so that
        their rank correlations with each other and with time of day and the gap to the
        previous flow are the training flows' (see :mod:`netrca.synth.ranks`; every
        column keeps its values, zeros and exact ports stay on their rows). Default on;
        models saved before it existed load without it.
    candidates : int
        Default flows generated per flow returned; the refiner keeps, per skeleton, the
        best 1 in ``candidates`` (1 = the generator's flows as they are; sampling slows
        about in proportion). Checkpoints written during training have no refiner yet.
    random_state : int
        Seed for everything (encoding noise, networks, batches, sampling by default).
    verbose : bool
        Show a progress bar with the losses on stderr.
    checkpoint : path, optional
        Save the best model so far here (safe format) whenever it improves.

    Examples
    --------
    >>> from netrca.simulate import simulate
    >>> gan = FlowGAN(max_steps=200).fit(simulate(seed=0))  # doctest: +SKIP
    >>> scans = gan.sample(100, conditions={"root_cause": "port_scan"})  # doctest: +SKIP
    >>> (scans["root_cause"] == "port_scan").all()  # doctest: +SKIP
    True
    """

    def __init__(
        self,
        *,
        max_steps: int = 3000,
        batch_size: int = 500,
        pac: int = 10,
        noise_dim: int = 64,
        generator_dims: tuple[int, ...] = (256, 256),
        critic_dims: tuple[int, ...] = (256, 256),
        lr: float = 1e-3,
        lr_final: float = 0.1,
        critic_lr: float | None = None,
        critic_dropout: float = 0.5,
        critic_steps: int = 1,
        gp_weight: float = 10.0,
        tau: float = 0.2,
        sw_weight: float = 5.0,
        sw_projections: int = 128,
        sw_value_projections: int = 32,
        moment_weight: float = 5.0,
        condition_weight: float = 5.0,
        skeleton_weighting: str = "sqrt",
        eval_every: int = 200,
        patience: int = 5,
        eval_rows: int = 4000,
        max_seconds: float | None = None,
        n_threads: int = 1,
        columns: list[str] | None = None,
        condition: str | None = "auto",
        max_addresses: int = 64,
        max_ports: int = 32,
        max_modes: int = 6,
        time_modes: int = 8,
        internal_networks: list[str] | None = None,
        max_exact: int = 24,
        standardise: bool = True,
        refiner: bool = True,
        refiner_stages: int = 3,
        pool_time: bool = True,
        calibrate: bool = True,
        match_ranks: bool = True,
        candidates: int = 1,
        random_state: int = 0,
        verbose: bool = False,
        checkpoint: str | Path | None = None,
    ) -> None:
        self.max_steps = max_steps
        self.batch_size = batch_size
        self.pac = pac
        self.noise_dim = noise_dim
        self.generator_dims = tuple(generator_dims)
        self.critic_dims = tuple(critic_dims)
        self.lr = lr
        self.lr_final = lr_final
        self.critic_lr = critic_lr
        self.critic_dropout = critic_dropout
        self.critic_steps = critic_steps
        self.gp_weight = gp_weight
        self.tau = tau
        self.sw_weight = sw_weight
        self.sw_projections = sw_projections
        self.sw_value_projections = sw_value_projections
        self.moment_weight = moment_weight
        self.condition_weight = condition_weight
        self.skeleton_weighting = skeleton_weighting
        self.eval_every = eval_every
        self.patience = patience
        self.eval_rows = eval_rows
        self.max_seconds = max_seconds
        self.n_threads = n_threads
        self.columns = columns
        self.condition = condition
        self.max_addresses = max_addresses
        self.max_ports = max_ports
        self.max_modes = max_modes
        self.time_modes = time_modes
        self.internal_networks = internal_networks
        self.max_exact = max_exact
        self.standardise = standardise
        self.refiner = refiner
        self.refiner_stages = refiner_stages
        self.pool_time = pool_time
        self.calibrate = calibrate
        self.match_ranks = match_ranks
        self.candidates = candidates
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint = checkpoint

    # -- parameters ---------------------------------------------------------------------------
    _INT_PARAMS = (
        "max_steps",
        "batch_size",
        "pac",
        "noise_dim",
        "critic_steps",
        "sw_projections",
        "eval_every",
        "patience",
        "eval_rows",
        "n_threads",
        "max_addresses",
        "max_ports",
        "max_modes",
        "time_modes",
        "max_exact",
        "refiner_stages",
        "candidates",
    )

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (scikit-learn style; JSON-ready)."""
        return {
            "max_steps": self.max_steps,
            "batch_size": self.batch_size,
            "pac": self.pac,
            "noise_dim": self.noise_dim,
            "generator_dims": list(self.generator_dims),
            "critic_dims": list(self.critic_dims),
            "lr": self.lr,
            "lr_final": self.lr_final,
            "critic_lr": self.critic_lr,
            "critic_dropout": self.critic_dropout,
            "critic_steps": self.critic_steps,
            "gp_weight": self.gp_weight,
            "tau": self.tau,
            "sw_weight": self.sw_weight,
            "sw_projections": self.sw_projections,
            "sw_value_projections": self.sw_value_projections,
            "moment_weight": self.moment_weight,
            "condition_weight": self.condition_weight,
            "skeleton_weighting": self.skeleton_weighting,
            "eval_every": self.eval_every,
            "patience": self.patience,
            "eval_rows": self.eval_rows,
            "max_seconds": self.max_seconds,
            "n_threads": self.n_threads,
            "columns": self.columns,
            "condition": self.condition,
            "max_addresses": self.max_addresses,
            "max_ports": self.max_ports,
            "max_modes": self.max_modes,
            "time_modes": self.time_modes,
            "internal_networks": self.internal_networks,
            "max_exact": self.max_exact,
            "standardise": self.standardise,
            "refiner": self.refiner,
            "refiner_stages": self.refiner_stages,
            "pool_time": self.pool_time,
            "calibrate": self.calibrate,
            "match_ranks": self.match_ranks,
            "candidates": self.candidates,
            "random_state": self.random_state,
        }

    def _validate_params(self) -> None:
        for name in self._INT_PARAMS:
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        if self.batch_size < self.pac:
            raise ConfigError(f"batch_size ({self.batch_size}) must be at least pac ({self.pac})")
        if (
            not self.lr > 0
            or not self.tau > 0
            or self.gp_weight < 0
            or min(self.sw_weight, self.moment_weight, self.condition_weight) < 0
        ):
            raise ConfigError(
                "lr and tau must be positive; gp_weight, sw_weight, moment_weight and "
                "condition_weight non-negative"
            )
        for flag in ("refiner", "pool_time", "calibrate", "match_ranks"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        if self.candidates > 1 and not self.refiner:
            raise ConfigError("candidates > 1 needs the refiner (refiner=True)")
        svp = self.sw_value_projections
        if not isinstance(svp, int) or isinstance(svp, bool) or svp < 0:
            raise ConfigError(
                "sw_value_projections must be a non-negative integer, "
                f"got {self.sw_value_projections!r}"
            )
        if self.skeleton_weighting not in WEIGHTINGS:
            raise ConfigError(
                f"skeleton_weighting must be one of {', '.join(WEIGHTINGS)}, "
                f"got {self.skeleton_weighting!r}"
            )
        if any(h < 1 for h in (*self.generator_dims, *self.critic_dims)):
            raise ConfigError("network sizes must be positive")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise ConfigError(f"max_seconds must be positive, got {self.max_seconds!r}")

    # -- layout helpers ----------------------------------------------------------------------
    def _build_layout(self) -> None:
        t = self.table_
        self.sk_index_ = [t.softmax_spans_.index(i) for i in t.cond_spans_]
        sk_dims = [t.spans_[i].dim for i in t.cond_spans_]
        self.sk_offsets_ = np.concatenate([[0], np.cumsum(sk_dims)[:-1]]).astype(np.int64)
        self.cond_dim_ = int(sum(sk_dims))
        self.class_dim_ = t.n_classes if t.n_classes > 1 else 0
        self.input_dim_ = self.cond_dim_ + self.class_dim_
        gen = t.generated_spans_
        self.gen_spans_ = [t.spans_[i] for i in gen]
        dims = [sp.dim for sp in self.gen_spans_]
        self.gen_offsets_ = np.concatenate([[0], np.cumsum(dims)[:-1]]).astype(np.int64)
        self.gen_dim_ = int(sum(dims))
        self.gen_soft_ = [t.softmax_spans_.index(i) for i in gen if t.spans_[i].kind == "softmax"]
        self.gen_soft_off_ = np.asarray(
            [
                o
                for o, sp in zip(self.gen_offsets_, self.gen_spans_, strict=True)
                if sp.kind == "softmax"
            ],
            dtype=np.int64,
        )
        self.gen_tanh_off_ = np.asarray(
            [
                o
                for o, sp in zip(self.gen_offsets_, self.gen_spans_, strict=True)
                if sp.kind == "tanh"
            ],
            dtype=np.int64,
        )
        bit_cols = [
            np.arange(o, o + sp.dim)
            for o, sp in zip(self.gen_offsets_, self.gen_spans_, strict=True)
            if sp.kind == "bits"
        ]
        self.gen_bit_cols_ = np.concatenate(bit_cols or [np.zeros(0, np.int64)]).astype(np.int64)
        self._build_proxies()

    def _build_proxies(self) -> None:
        """Where each modelled number sits in the generated vector, for its value proxy."""
        t = self.table_
        where = {span: pos for pos, span in enumerate(t.generated_spans_)}
        first: dict[int, dict[int, int]] = {}
        for i, (e, part) in enumerate(t.span_owner_):
            first.setdefault(e, {})[part] = i
        proxies = []
        for e, enc in enumerate(t.encoders_):
            for num, tok, val in enc.numeric_parts():
                tok_span, val_span = first[e][tok], first[e][val]
                if tok_span not in where or val_span not in where:
                    continue
                centre, scale = num.token_values()
                off = int(self.gen_offsets_[where[tok_span]])
                proxies.append(
                    (off, len(centre), int(self.gen_offsets_[where[val_span]]), centre, scale)
                )
        self.proxies_ = proxies

    def _networks(self) -> tuple[Any, Any]:
        from netrca.synth.networks import Critic, Generator

        spans = [(sp.kind, sp.dim) for sp in self.gen_spans_]
        gen = Generator(self.noise_dim, self.input_dim_, self.generator_dims, spans, tau=self.tau)
        critic = Critic(
            self.gen_dim_ + self.input_dim_, self.critic_dims, self.pac, self.critic_dropout
        )
        return gen, critic

    def _cond_matrix(self, combo: np.ndarray, cls: np.ndarray) -> Any:
        torch = require_torch()
        n = len(combo)
        c = torch.zeros(n, self.input_dim_)
        rows = torch.arange(n)
        codes = self.skeleton_.combos[combo]
        for j in range(codes.shape[1]):
            c[rows, torch.from_numpy(self.sk_offsets_[j] + codes[:, j])] = 1.0
        if self.class_dim_:
            c[rows, torch.from_numpy(self.cond_dim_ + cls)] = 1.0
        return c

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, flows: pd.DataFrame) -> FlowGAN:
        """Learn the schema, encoders, validity rules and the generator from ``flows``."""
        self._validate_params()
        if not isinstance(flows, pd.DataFrame):
            raise InputError("FlowGAN.fit expects a pandas DataFrame of flows")
        torch = require_torch()
        with torch_settings(self.n_threads):
            torch.manual_seed(self.random_state)
            rng = np.random.default_rng(self.random_state)
            flows = flows.reset_index(drop=True)
            self.table_ = FlowTable(
                columns=self.columns,
                condition=self.condition,
                max_addresses=self.max_addresses,
                max_ports=self.max_ports,
                max_modes=self.max_modes,
                time_modes=self.time_modes,
                internal_networks=self.internal_networks,
                max_exact=self.max_exact,
                standardise=self.standardise,
            ).fit(flows, seed=self.random_state)
            self.rules_ = ValidityRules(condition=self.table_.condition_).fit(flows)
            self._build_layout()
            self.time_pooling_, pooling = self._test_time_pooling(flows)
            self.time_positions_: dict[str, np.ndarray] | None = self._position_counts(
                flows, self.time_pooling_
            )
            self.token_calibrator_: TokenCalibrator | None = None
            self.calibrator_: Calibrator | None = None
            self.rank_matcher_: RankMatcher | None = None
            self._train(flows, rng)
            self.training_["time_pooling"] = pooling
            if self.calibrate:
                self.token_calibrator_ = self._fit_token_calibrator(flows)
                self.calibrator_ = self._fit_calibrator(flows)
            if self.match_ranks:
                self.rank_matcher_ = self._fit_rank_matcher(flows)
            self.refiner_ = self._fit_refiner(flows) if self.refiner else None
        from netrca.synth.fidelity import summarize

        self.reference_ = summarize(flows, self.table_.schema())
        return self

    def _tensors(self, enc: Encoded) -> dict[str, Any]:
        torch = require_torch()
        return {
            "codes": torch.from_numpy(enc.codes[:, self.gen_soft_]),
            "values": torch.from_numpy(np.clip(enc.values, -1.0, 1.0).astype(np.float32)),
            "bits": torch.from_numpy(enc.bits.astype(np.float32)),
            "soft_off": torch.from_numpy(self.gen_soft_off_),
            "tanh_cols": torch.from_numpy(self.gen_tanh_off_),
            "bit_cols": torch.from_numpy(self.gen_bit_cols_),
        }

    def _real_matrix(self, data: dict[str, Any], rows: np.ndarray) -> Any:
        torch = require_torch()
        r = torch.from_numpy(rows)
        x = torch.zeros(len(rows), self.gen_dim_)
        if data["codes"].shape[1]:
            x.scatter_(1, data["codes"][r] + data["soft_off"], 1.0)
        if data["values"].shape[1]:
            x[:, data["tanh_cols"]] = data["values"][r]
        if data["bits"].shape[1]:
            x[:, data["bit_cols"]] = data["bits"][r]
        return x

    def _train(self, flows: pd.DataFrame, rng: np.random.Generator) -> None:
        torch = require_torch()
        enc = self.table_.encode(flows, rng)
        self.skeleton_ = SkeletonSampler.from_rows(
            enc.codes[:, self.sk_index_], enc.cls, self.table_.n_classes
        )
        data = self._tensors(enc)
        gen, critic = self._networks()
        betas = (0.5, 0.9)
        opt_g = torch.optim.Adam(gen.parameters(), lr=self.lr, betas=betas, weight_decay=1e-6)
        opt_c = torch.optim.Adam(critic.parameters(), lr=self.critic_lr or self.lr, betas=betas)
        batch = max(self.pac, (min(self.batch_size, len(flows)) // self.pac) * self.pac)
        ref = self._reference(flows)
        self.generator_ = gen
        best = (np.inf, 0, copy.deepcopy(gen.state_dict()))
        history: list[dict[str, float]] = []
        t0 = time.perf_counter()
        stopped, step = "max_steps", 0
        scale = self._lr_schedule()
        sched = [torch.optim.lr_scheduler.LambdaLR(o, scale) for o in (opt_g, opt_c)]
        with _Progress(self.verbose, self.max_steps) as bar:
            for step in range(1, self.max_steps + 1):
                for _ in range(self.critic_steps):
                    loss_c = self._critic_step(gen, critic, opt_c, data, batch, rng)
                loss_g = self._generator_step(gen, critic, opt_g, data, batch, rng)
                for sc in sched:
                    sc.step()
                losses = {"critic": loss_c, "generator": loss_g}
                score = None
                if step % self.eval_every == 0 or step == self.max_steps:
                    score = self._fidelity(ref)
                    history.append({"step": step, **losses, "fidelity": score})
                    if score < best[0]:
                        best = (score, step, copy.deepcopy(gen.state_dict()))
                        self._save_checkpoint(best[2], history)
                bar.update(step, losses, score, best[0])
                if score is not None and (step - best[1]) >= self.patience * self.eval_every:
                    stopped = "early_stopping"
                    break
                if self.max_seconds is not None and time.perf_counter() - t0 > self.max_seconds:
                    stopped = "max_seconds"
                    break
        gen.load_state_dict(best[2])
        self.training_: dict[str, Any] = {
            "steps": step,
            "best_step": best[1],
            "best_fidelity": best[0],
            "stopped": stopped,
            "seconds": round(time.perf_counter() - t0, 3),
            "batch_size": batch,
            "epochs": round(step * batch / len(flows), 2),
            "history": history,
        }

    def _lr_schedule(self) -> Any:
        """Cosine decay of the learning rate from ``lr`` to ``lr * lr_final``."""
        total, final = max(self.max_steps, 1), self.lr_final

        def scale(step: int) -> float:
            cos = float(np.cos(np.pi * min(step / total, 1.0)))
            return final + (1.0 - final) * 0.5 * (1.0 + cos)

        return scale

    def _batch(self, data: dict[str, Any], batch: int, rng: np.random.Generator) -> tuple[Any, Any]:
        """Training conditions and real rows drawn for them (training-by-sampling)."""
        combo = self.skeleton_.draw(batch, rng, train=True, weighting=self.skeleton_weighting)
        cond = self._cond_matrix(combo, self.skeleton_.combo_class[combo])
        return cond, self._real_matrix(data, self.skeleton_.real_rows(combo, rng))

    def _critic_step(
        self,
        gen: Any,
        critic: Any,
        opt: Any,
        data: dict[str, Any],
        batch: int,
        rng: np.random.Generator,
    ) -> float:
        """One WGAN-GP critic update; returns the Wasserstein loss (before the penalty)."""
        torch = require_torch()
        cond, real = self._batch(data, batch, rng)
        with torch.no_grad():
            fake = gen(torch.cat([torch.randn(batch, self.noise_dim), cond], 1))
        real, fake = torch.cat([real, cond], 1), torch.cat([fake, cond], 1)
        loss = critic(fake).mean() - critic(real).mean()
        penalty = critic.gradient_penalty(real, fake) * self.gp_weight
        opt.zero_grad(set_to_none=True)
        (loss + penalty).backward()
        opt.step()
        return float(loss.item())

    def _generator_step(
        self,
        gen: Any,
        critic: Any,
        opt: Any,
        data: dict[str, Any],
        batch: int,
        rng: np.random.Generator,
    ) -> float:
        """One generator update: adversarial loss plus the two auxiliary losses, which
        compare (columns, condition) of the generated batch with real rows drawn for the
        same conditions, so they match conditional distributions, not just marginals."""
        torch = require_torch()
        cond, real = self._batch(data, batch, rng)
        fake = torch.cat([gen(torch.cat([torch.randn(batch, self.noise_dim), cond], 1)), cond], 1)
        loss = -critic(fake).mean()
        real = torch.cat([real, cond], 1)
        if self.sw_weight:
            loss = loss + self.sw_weight * self._sliced_wasserstein(fake, real)
        if self.moment_weight:
            loss = loss + self.moment_weight * ((fake.T @ fake - real.T @ real) / batch).norm()
        if self.condition_weight:
            loss = loss + self.condition_weight * self._conditional_means(fake, real)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.item())

    def _conditional_means(self, fake: Any, real: Any) -> Any:
        """Per condition token, the gap between generated and real column means.

        ``fake`` and ``real`` are ``[generated columns, condition]`` rows drawn under the
        same conditions, row for row. For each condition dimension (a skeleton token or
        the class) the generated columns and decoded-number proxies are averaged over the
        rows that have it, standardised by the real batch's spread; the mean absolute gap is
        weighted by the token's share of the batch.
        """
        torch = require_torch()
        g = self.gen_dim_
        cond = real[:, g:]
        fx = torch.cat([fake[:, :g], self._value_proxies(fake[:, :g])], 1)
        rx = torch.cat([real[:, :g], self._value_proxies(real[:, :g])], 1)
        sd = rx.std(dim=0, keepdim=True).clamp_min(1e-2)
        n_c = cond.sum(0)
        gap = (cond.T @ ((fx - rx) / sd)) / n_c.clamp_min(1.0)[:, None]
        return (gap.abs().mean(1) * n_c / len(real)).sum()

    def _value_proxies(self, x: Any) -> Any:
        """Per modelled number, ``centre[token] + scale[token] * alpha`` (differentiable)."""
        torch = require_torch()
        cols = []
        for off, dim, val, centre, scale in self.proxies_:
            onehot = x[:, off : off + dim]
            c = torch.as_tensor(centre, dtype=x.dtype)
            s = torch.as_tensor(scale, dtype=x.dtype)
            cols.append(onehot @ c + (onehot @ s) * x[:, val])
        return torch.stack(cols, 1) if cols else x[:, :0]

    def _sliced_wasserstein(self, fake: Any, real: Any) -> Any:
        """Sliced Wasserstein-2 between two batches drawn under the same conditions.

        Projections: each modelled number's decoded-value proxy (its marginal, on the
        modelled scale and standardised; the marginals of one-hot and bit columns are the
        diagonal of the second-moment term), ``sw_projections`` random directions over
        everything (the joint), and ``sw_value_projections`` random directions over the
        standardised value proxies only (the numbers' joint, which the wide one-hot part
        would otherwise drown), all redrawn every step.
        """
        torch = require_torch()
        dirs = torch.randn(fake.shape[1], self.sw_projections)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)
        vf, vr = self._value_proxies(fake), self._value_proxies(real)
        sd = vr.std(dim=0, keepdim=True).clamp_min(1e-3)
        zf, zr = vf / sd, vr / sd
        parts_f, parts_r = [zf, fake @ dirs], [zr, real @ dirs]
        if self.sw_value_projections and zf.shape[1] > 1:
            dv = torch.randn(zf.shape[1], self.sw_value_projections)
            dv = dv / dv.norm(dim=0, keepdim=True)
            parts_f.append(zf @ dv)
            parts_r.append(zr @ dv)
        # one projection per row, so each sort runs along contiguous memory (same order)
        pf = torch.sort(torch.cat(parts_f, 1).T.contiguous(), dim=1).values
        pr = torch.sort(torch.cat(parts_r, 1).T.contiguous(), dim=1).values
        return ((pf - pr) ** 2).mean(dim=1).sum() / pf.shape[0] * 10.0

    def _save_checkpoint(self, state: dict[str, Any], history: list[dict[str, float]]) -> None:
        if self.checkpoint is None:
            return
        from netrca.synth.persist import save_gan

        snapshot = copy.copy(self)
        snapshot.generator_ = copy.deepcopy(self.generator_)
        snapshot.generator_.load_state_dict(state)
        snapshot.training_ = {"checkpoint": True, "history": list(history)}
        snapshot.reference_ = {}
        save_gan(snapshot, self.checkpoint)

    def _fit_refiner(self, flows: pd.DataFrame) -> Refiner:
        """The real-vs-generated classifier that picks among candidates when sampling:
        up to ``_REFINER_ROWS`` training flows against as many generated ones, then, for
        each further stage, against as many picked from ``_STAGE_CANDIDATES`` candidates
        by the stages so far."""
        from netrca.synth.refine import Refiner

        t0 = time.perf_counter()
        rng = np.random.default_rng([self.random_state, 4])
        n = min(len(flows), _REFINER_ROWS)
        real = flows.iloc[np.sort(rng.choice(len(flows), size=n, replace=False))]
        cls = self._draw_classes(n, rng)
        fake, _ = self._decode(self._generate(cls, self.random_state + 5), rng)
        cols = [c for c in fake.columns if c in real.columns]  # what the model generates
        real = real[cols].reset_index(drop=True)
        ref = Refiner().fit(real, fake[cols], self.random_state, self.n_threads)
        for stage in range(1, self.refiner_stages):  # each learns what the ones so far pick
            seed = self.random_state + 5 + stage
            cls = self._draw_classes(n, rng)
            picked, _ = self._refined(cls, seed, _STAGE_CANDIDATES, rng, ref)
            ref.add_stage(real, picked[cols], self.random_state + stage, self.n_threads)
        self.training_["refiner_seconds"] = round(time.perf_counter() - t0, 3)
        self.training_["refiner_log_loss"] = [round(v, 6) for v in ref.stage_log_loss]
        return ref

    # -- marginal calibration ----------------------------------------------------------------
    def _fit_calibrator(self, flows: pd.DataFrame) -> Calibrator:
        """Quantile maps from a calibration sample of the trained generator (pooled as
        sampling pools it; four times the training flows, 20,000 to 100,000) to the
        training flows."""
        t0 = time.perf_counter()
        rng = np.random.default_rng([self.random_state, 8])
        m = int(np.clip(4 * len(flows), _CALIBRATION_ROWS[0], _CALIBRATION_ROWS[1]))
        enc = self._generate(self._draw_classes(m, rng), self.random_state + 8)
        fake, _ = self.table_.decode(enc, rng, sort=False)
        real = flows.reset_index(drop=True)
        t = self.table_
        numbers, integer, skip, times = self._number_columns()
        columns = [e.column for e in t.encoders_ if e.column in {*numbers, *times}]
        cal = Calibrator().fit(
            real,
            t.calibration_keys_of_flows(real),
            fake,
            t.calibration_keys(enc),
            columns,
            integer=integer,
            skip=skip,
            given={c: d for c, d in _GIVEN if c in columns and (d in columns or d in times)},
            times=times,
        )
        self.training_["calibration_seconds"] = round(time.perf_counter() - t0, 3)
        self.training_["calibration_groups"] = {
            c: [int((cal.level[c] == li).sum()) for li in range(3)] for c in cal.maps
        }
        return cal

    def _number_columns(
        self,
    ) -> tuple[list[str], dict[str, bool], dict[str, list[float]], list[str]]:
        """The generated number columns the calibration maps (counts, durations,
        latencies, client ports), whether each is an integer, the values each keeps as
        generated, and the timestamp columns."""
        t = self.table_
        columns, integer, skip, times = [], {}, {}, []
        for e in t.encoders_:
            if isinstance(e, TimeEncoder):  # positions in time, per group
                times.append(e.column)
                continue
            if isinstance(e, PortEncoder) and not t.in_coarse_skeleton(e.column):
                skip[e.column] = [float(p) for p in e.top]  # exact ports keep their token
            elif isinstance(e, NumericEncoder):
                # zeros stay as generated: whether a direction carried bytes and packets is
                # decided jointly by the generator (no bytes without packets)
                skip[e.column] = [0.0]
            else:
                continue
            plan = t.schema().column(e.column)
            columns.append(e.column)
            integer[e.column] = plan is not None and plan.dtype == "Int64"
        return columns, integer, skip, times

    def _fit_rank_matcher(self, flows: pd.DataFrame) -> RankMatcher | None:
        """The training flows' rank correlations per large class (see
        :mod:`netrca.synth.ranks`); None when no class has enough flows."""
        t0 = time.perf_counter()
        numbers, _, skip, times = self._number_columns()
        matcher = RankMatcher().fit(
            flows,
            numbers,
            condition=self.table_.condition_,
            time_column=times[0] if len(times) == 1 else None,
            keep=skip,
        )
        self.training_["rank_matching_seconds"] = round(time.perf_counter() - t0, 3)
        rows = dict(zip(matcher.classes, matcher.rows, strict=True))
        self.training_["rank_matching_classes"] = {
            c: n for c, n in rows.items() if c not in matcher.timed
        }
        self.training_["time_matching_classes"] = {c: rows[c] for c in matcher.timed}
        return matcher if matcher.classes else None

    def _decode(
        self, enc: Encoded, rng: np.random.Generator, *, sort: bool = True, retimed: bool = False
    ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """The table's decoding, calibrated when the model has a calibrator (without the
        second maps binned on time when the rows get a new timeline afterwards:
        ``retimed``, see :meth:`_refined`)."""
        frame, repairs = self.table_.decode(enc, rng, sort=False)
        cal = getattr(self, "calibrator_", None)
        if cal is not None:
            maps = [m for m in cal.maps if m not in cal.timed()[1]] if retimed else None
            frame = cal.apply(frame, self.table_.calibration_keys(enc), rng, maps)
        return self.table_.time_order(frame, repairs) if sort else (frame, repairs)

    # -- fidelity signal ---------------------------------------------------------------------
    def _split_parts(self, enc: Encoded) -> list[Any]:
        parts = self.table_._parts(enc)
        owner = self.table_.span_owner_
        return [
            [parts[i] for i, (o, _) in enumerate(owner) if o == e]
            for e in range(len(self.table_.encoders_))
        ]

    def _views(self, enc: Encoded) -> dict[str, Any]:
        nums: list[np.ndarray] = []
        for e, parts in zip(self.table_.encoders_, self._split_parts(enc), strict=True):
            nums.extend(_numbers(e, parts))
        return {"codes": enc.codes, "numbers": nums}

    def _reference(self, flows: pd.DataFrame) -> dict[str, Any]:
        rng = np.random.default_rng(self.random_state + 1)
        n = min(self.eval_rows, len(flows))
        rows = np.sort(rng.choice(len(flows), size=n, replace=False))
        ref = self._views(self.table_.encode(flows.iloc[rows].reset_index(drop=True), None))
        ref["n"] = n
        return ref

    def _generate(
        self, cls: np.ndarray, seed: int, combo: np.ndarray | None = None, *, pool: bool = True
    ) -> Encoded:
        """Generated arrays for classes ``cls``, on skeletons drawn for them (or ``combo``);
        positions in time pooled as the model's test allowed (unless ``pool=False``)."""
        rng = np.random.default_rng(seed)
        if combo is None:
            combo = self.skeleton_.draw(len(cls), rng, train=False, cls=cls)
        out_c, out_v, out_b = [], [], []
        for c, v, b in self._forward(cls, combo, seed):
            out_c.append(c)
            out_v.append(v)
            out_b.append(b)
        codes = np.zeros((len(cls), len(self.table_.softmax_spans_)), dtype=np.int64)
        codes[:, self.sk_index_] = self.skeleton_.combos[combo]
        codes[:, self.gen_soft_] = np.concatenate(out_c)
        enc = Encoded(
            codes=codes,
            values=np.concatenate(out_v),
            bits=np.concatenate(out_b),
            cls=np.asarray(cls, dtype=np.int64),
        )
        if pool:
            self._pool_time(enc, combo, seed)
        return enc

    def _forward(
        self,
        cls: np.ndarray,
        combo: np.ndarray,
        seed: int,
        capture: int | None = None,
        tokens: TokenCalibrator | None = None,
    ) -> Any:
        """The generator's (codes, values, bits) arrays (or head ``capture``'s logits)
        chunk by chunk, in order, for classes ``cls`` on skeletons ``combo``: noise from
        ``seed``, the token heads calibrated by ``tokens`` (default: the model's token
        calibration), Gumbel noise for them drawn from ``seed`` too, so fitting and
        sampling see the same draws.

        The draws are made here, chunk after chunk; on more than one core the chunks then
        run side by side on one thread per core (:func:`_sampling_workers`), one torch
        thread each (the small per-head steps kept a second intra-op thread barely busy).
        A chunk's result does not depend on the thread count, so neither do the samples.
        """
        torch = require_torch()
        gen = torch.Generator().manual_seed(int(seed))
        tokens = getattr(self, "token_calibrator_", None) if tokens is None else tokens
        adjusted: list[tuple[int, Any, Any, Any, float]] = []
        if tokens is not None and tokens.heads:
            heads = {name: h for h, _, name in self._token_heads()}
            keys = self.table_.skeleton_keys(self.skeleton_.combos[combo], cls)
            for name in tokens.heads:
                if not len(tokens.level[name]):
                    continue
                g = tokens.groups(name, keys)
                noise = torch.Generator().manual_seed(
                    int(np.random.SeedSequence([int(seed), 9, heads[name]]).generate_state(1)[0])
                )
                offset = torch.from_numpy((tokens.offset[name] / tokens.temperature).astype("f4"))
                adjusted.append(
                    (heads[name], torch.from_numpy(g), offset, noise, tokens.temperature)
                )

        def inputs() -> Any:
            # the random draws are made here, chunk by chunk in order, so any number of
            # workers sees the same draws; the rest of a chunk's work is the worker's
            for s in range(0, len(cls), _CHUNK):
                sl = slice(s, s + _CHUNK)
                n = len(combo[sl])
                z = torch.randn(n, self.noise_dim, generator=gen)
                u = [torch.rand(n, a[2].shape[1], generator=a[3]) for a in adjusted]
                yield sl, z, u

        def run(sl: slice, z: Any, u: list[Any]) -> Any:
            adjust = {}
            for (h, g, offset, _, temp), uh in zip(adjusted, u, strict=True):
                gs = g[sl]
                gumbel = -torch.log(-torch.log(uh.clamp_(min=1e-12)))
                adjust[h] = ((gs >= 0)[:, None], 1.0 / temp, gumbel + offset[gs.clamp(min=0)])
            x = torch.cat([z, self._cond_matrix(combo[sl], cls[sl])], 1)
            with torch.no_grad():  # per thread
                if capture is not None:
                    return self.generator_.head_logits(x, capture, adjust)
                return tuple(a.numpy() for a in self.generator_.draw(x, adjust))

        workers = _sampling_workers()
        self.generator_.eval()
        try:
            if workers == 1 or len(cls) <= _CHUNK:
                for chunk in inputs():
                    yield run(*chunk)
                return
            threads = torch.get_num_threads()
            torch.set_num_threads(1)  # one core per chunk, the chunks side by side
            try:
                with ThreadPoolExecutor(workers) as pool:
                    pending: deque[Any] = deque()
                    for chunk in inputs():
                        pending.append(pool.submit(run, *chunk))
                        if len(pending) > 2 * workers:
                            yield pending.popleft().result()
                    while pending:
                        yield pending.popleft().result()
            finally:
                torch.set_num_threads(threads)
        finally:
            self.generator_.train()

    def _token_heads(self) -> list[tuple[int, int, str]]:
        """The generated token heads the token calibration covers: (head index, column of
        the encoded codes, span name) for addresses, ports and categories the generator
        emits (not numbers' modes or time tokens, which the number calibration and the
        time pooling handle)."""
        t = self.table_
        out = []
        for h, i in enumerate(t.generated_spans_):
            sp = t.spans_[i]
            owner = t.encoders_[t.span_owner_[i][0]]
            if sp.kind == "softmax" and isinstance(
                owner, (IPEncoder, PortEncoder, CategoricalEncoder)
            ):
                out.append((h, t.softmax_spans_.index(i), sp.name))
        return out

    # -- token calibration -------------------------------------------------------------------
    def _fit_token_calibrator(self, flows: pd.DataFrame) -> TokenCalibrator | None:
        """Per-group logit offsets for the generated token heads, fitted head by head in
        the generator's order on one calibration sample (the size of the number
        calibration's); None when the generator emits no such head."""
        heads = self._token_heads()
        if not heads:
            return None
        t0 = time.perf_counter()
        torch = require_torch()
        rng = np.random.default_rng([self.random_state, 9])
        m = int(np.clip(4 * len(flows), _CALIBRATION_ROWS[0], _CALIBRATION_ROWS[1]))
        cls = self._draw_classes(m, rng)
        combo = self.skeleton_.draw(m, rng, train=False, cls=cls)
        gen_keys = self.table_.skeleton_keys(self.skeleton_.combos[combo], cls)
        real = self.table_.encode(flows.reset_index(drop=True), None)
        real_keys = self.table_.calibration_keys(real)
        seed = self.random_state + 9
        tc = TokenCalibrator()
        for h, col, name in heads:
            logits = torch.cat(list(self._forward(cls, combo, seed, capture=h, tokens=tc)))
            tc.fit_head(name, logits.numpy(), gen_keys, real.codes[:, col], real_keys)
        self.training_["token_calibration_seconds"] = round(time.perf_counter() - t0, 3)
        self.training_["token_calibration_groups"] = {
            h: [int((tc.level[h] == li).sum()) for li in range(3)] for h in tc.heads
        }
        return tc

    # -- time pooling ------------------------------------------------------------------------
    def _pool_time(self, enc: Encoded, combo: np.ndarray, seed: int) -> None:
        """Positions in time for the classes whose training flows showed no dependence on
        them (in place): a class pooled by class draws them from its training flows'
        positions per minute; one pooled by skeleton swaps the generated ones among the
        skeleton's flows."""
        modes = getattr(self, "time_pooling_", None)
        if modes is None or not modes.any():
            return
        rng = np.random.default_rng([int(seed), 7])
        counts = getattr(self, "time_positions_", None)
        m = modes[enc.cls]
        if counts is not None:  # pooled by class: drawn from the class's counts per minute
            codes, values = self.table_.position_columns()
            code_cols, value_cols = np.asarray(codes, np.int64), np.asarray(values, np.int64)
            for c in np.flatnonzero(modes == 1):
                rows = np.flatnonzero(enc.cls == c)
                lo, hi = counts["offsets"][c], counts["offsets"][c + 1]
                if not len(rows) or hi == lo:
                    continue
                bins, n = counts["bins"][lo:hi], counts["counts"][lo:hi]
                cum = np.cumsum(n)
                pick = np.searchsorted(cum, rng.integers(0, int(cum[-1]), len(rows)), "right")
                position = (bins[pick] + rng.random(len(rows))) * POSITION_BIN
                code_part, value_part = self.table_.encode_positions(position, rng)
                enc.codes[np.ix_(rows, code_cols)] = code_part
                enc.values[np.ix_(rows, value_cols)] = value_part
                m[rows] = 0
        group = np.where(m == 1, enc.cls, self.table_.n_classes + np.asarray(combo))
        self._shuffle_positions(enc, group, np.flatnonzero(m > 0), rng)

    def _position_counts(self, flows: pd.DataFrame, modes: np.ndarray) -> dict[str, np.ndarray]:
        """Per class pooled by class, its training flows' positions in time counted per
        ``POSITION_BIN`` seconds (an aggregate: which minutes saw how many such flows)."""
        n_cls = self.table_.n_classes
        position = self.table_.positions(flows) if (modes == 1).any() else None
        cls = self.table_.row_classes(flows)
        bins_all, counts_all, offsets = [], [], [0]
        for c in range(n_cls):
            if position is not None and modes[c] == 1:
                b, n = np.unique(np.floor(position[cls == c] / POSITION_BIN), return_counts=True)
                bins_all.append(b.astype(np.int64))
                counts_all.append(n.astype(np.int64))
                offsets.append(offsets[-1] + len(b))
            else:
                offsets.append(offsets[-1])
        return {
            "offsets": np.asarray(offsets, dtype=np.int64),
            "bins": np.concatenate(bins_all or [np.zeros(0, np.int64)]),
            "counts": np.concatenate(counts_all or [np.zeros(0, np.int64)]),
        }

    def _shuffle_positions(
        self, enc: Encoded, group: np.ndarray, rows: np.ndarray, rng: np.random.Generator
    ) -> None:
        """Permute the day and time-of-day columns of ``rows`` at random within each
        ``group`` (in place)."""
        codes, values = self.table_.position_columns()
        if not len(rows) or not (codes or values):
            return
        code_cols, value_cols = np.asarray(codes, np.int64), np.asarray(values, np.int64)
        g = group[rows]
        to = rows[np.argsort(g, kind="stable")]
        src = rows[np.lexsort((rng.random(len(rows)), g))]  # same groups, random order within
        if len(code_cols):
            enc.codes[np.ix_(to, code_cols)] = enc.codes[np.ix_(src, code_cols)]
        if len(value_cols):
            enc.values[np.ix_(to, value_cols)] = enc.values[np.ix_(src, value_cols)]

    def _test_time_pooling(self, flows: pd.DataFrame) -> tuple[np.ndarray, dict[str, Any]]:
        """Per class, the pooling of positions in time that the training flows allow.

        Up to ``_POOL_ROWS`` training flows are encoded and split in two halves. In the
        second, every class's positions are permuted within the class; the report's
        real-vs-synthetic classifier (:func:`~netrca.synth.fidelity.classifier_auc`) then
        compares each class's flows of the two halves, both decoded. A class whose ROC-AUC
        is at most ``0.5 + _POOL_Z`` null standard errors pools by class; the others are
        tested again with positions permuted within skeletons only, and pool by skeleton
        if that passes. Classes with fewer than ``_POOL_MIN_ROWS`` flows a side are not
        pooled."""
        t = self.table_
        n_cls = t.n_classes
        modes = np.zeros(n_cls, dtype=np.int64)
        code_cols, value_cols = t.position_columns()
        if not self.pool_time or not (code_cols or value_cols):
            return modes, {"tested": False}
        from netrca.synth.fidelity import _MAX_ROWS, ViewSpec, classifier_auc

        t0 = time.perf_counter()
        rng = np.random.default_rng([self.random_state, 6])
        n = min(len(flows), _POOL_ROWS)
        real = flows.iloc[np.sort(rng.choice(len(flows), size=n, replace=False))]
        real = real.reset_index(drop=True)
        enc = t.encode(real, None)
        key, _ = t._keys_of_flows(real)
        first = rng.permutation(n) < n // 2

        def half(mask: np.ndarray) -> Encoded:
            return Encoded(
                codes=enc.codes[mask].copy(),
                values=enc.values[mask].copy(),
                bits=enc.bits[mask],
                cls=enc.cls[mask],
            )

        def decoded(e: Encoded) -> pd.DataFrame:
            frame, _ = t.decode(e, np.random.default_rng([self.random_state, 8]), sort=False)
            return frame

        a, b = half(first), half(~first)
        names = t.condition_values_ or ["all"]
        counts = [(int((a.cls == c).sum()), int((b.cls == c).sum())) for c in range(n_cls)]
        testable = [c for c in range(n_cls) if min(counts[c]) >= _POOL_MIN_ROWS]
        record: dict[str, Any] = {"tested": True, "rows": n, "classes": {}}
        if testable:
            fa = decoded(a)
            cols = [c for c in fa.columns if c in real.columns]  # what the model generates
            spec = ViewSpec(self.internal_networks).fit(real[cols])
            va = spec.transform(fa[cols])
        for c in range(n_cls):
            m = min(*counts[c], _MAX_ROWS)  # rows a side the classifier sees
            se = float(np.sqrt((2 * m + 1) / (12 * m * m))) if m else 0.0  # null AUC's
            record["classes"][names[c]] = {
                "pooling": "none",
                "rows": counts[c],
                "threshold": round(0.5 + _POOL_Z * se, 4) if c in testable else None,
                "roc_auc": {},
            }
        left = testable
        for mode, group in ((1, b.cls), (2, key[~first])):
            if not left:
                break
            bp = half(~first)
            self._shuffle_positions(bp, group, np.flatnonzero(np.isin(b.cls, left)), rng)
            vb = spec.transform(decoded(bp)[cols])
            still = []
            for c in left:
                ma, mb = a.cls == c, b.cls == c
                auc = classifier_auc(
                    (va[0][ma], va[1][ma]), (vb[0][mb], vb[1][mb]), self.random_state
                )
                rec = record["classes"][names[c]]
                rec["roc_auc"][POOLING[mode]] = round(auc, 4)
                if auc <= rec["threshold"]:
                    modes[c] = mode
                    rec["pooling"] = POOLING[mode]
                else:
                    still.append(c)
            left = still
        record["seconds"] = round(time.perf_counter() - t0, 3)
        return modes, record

    def _fidelity(self, ref: dict[str, Any]) -> float:
        n = ref["n"]
        cls = self._draw_classes(n, np.random.default_rng(self.random_state + 2))
        # the generator as trained, not pooled: pooling leaves training as it was
        fake = self._views(self._generate(cls, self.random_state + 3, pool=False))
        terms = []
        for k in self.gen_soft_:
            d = int(max(ref["codes"][:, k].max(), fake["codes"][:, k].max())) + 1
            pr = np.bincount(ref["codes"][:, k], minlength=d) / n
            pf = np.bincount(fake["codes"][:, k], minlength=d) / n
            terms.append(0.5 * float(np.abs(pr - pf).sum()))
        terms += [_ks(a, b) for a, b in zip(ref["numbers"], fake["numbers"], strict=True)]
        corr = 0.0
        if len(ref["numbers"]) > 1:
            cr = pd.DataFrame(np.column_stack(ref["numbers"])).corr("spearman").to_numpy()
            cf = pd.DataFrame(np.column_stack(fake["numbers"])).corr("spearman").to_numpy()
            iu = np.triu_indices(len(cr), 1)
            corr = float(np.nanmean(np.abs(np.nan_to_num(cr[iu]) - np.nan_to_num(cf[iu]))))
        return float(np.mean(terms)) + corr

    # -- sampling ----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "generator_"):
            raise ModelError("this FlowGAN is not fitted yet; call fit() or load a model")

    @property
    def schema_(self) -> TrainingSchema:
        """The training schema (columns, roles, condition classes)."""
        self._check_fitted()
        return self.table_.schema()

    def _class_index(self, value: Any) -> int:
        t = self.table_
        values = t.condition_values_
        if str(value) not in values:
            raise InputError(
                f"{t.condition_} {value!r} was not seen when the model was trained "
                f"(known: {', '.join(values)})"
            )
        return values.index(str(value))

    def _classes_for(
        self, n: int, conditions: Mapping[str, Any] | None, rng: np.random.Generator
    ) -> np.ndarray:
        t = self.table_
        fixed_cls: int | None = None
        for name, value in (conditions or {}).items():
            plan = t.schema().column(name)
            if plan is not None and plan.role == "condition":
                fixed_cls = self._class_index(value)
            elif plan is not None and plan.role == "fixed" and str(plan.value) == str(value):
                continue
            else:
                allowed = t.condition_ or "nothing (the training flows had no root_cause)"
                raise ConfigError(
                    f"cannot condition on {name}={value!r}: this model is conditioned on {allowed}"
                )
        if fixed_cls is not None:
            return np.full(n, fixed_cls, dtype=np.int64)
        return self._draw_classes(n, rng)

    def _draw_classes(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` classes drawn by their training frequency (all 0 without classes)."""
        p = self.skeleton_.class_p_data
        if len(p) == 1:
            return np.zeros(n, dtype=np.int64)
        return rng.choice(len(p), size=n, p=p).astype(np.int64)

    def sample(
        self,
        n: int,
        *,
        conditions: Mapping[str, Any] | None = None,
        random_state: int | None = None,
        enforce_validity: bool = True,
        candidates: int | None = None,
    ) -> pd.DataFrame:
        """``n`` flows (time-ordered); with ``conditions={"root_cause": c}`` all of class c.

        ``candidates`` (default: the model's ``candidates``): generate this many flows per
        flow returned and keep, skeleton by skeleton, those the refiner finds most real-looking
        (see :mod:`netrca.synth.refine`); 1 returns the generator's flows as they are.
        """
        return self.sample_result(
            n,
            conditions=conditions,
            random_state=random_state,
            enforce_validity=enforce_validity,
            candidates=candidates,
        ).flows

    def sample_result(
        self,
        n: int,
        *,
        conditions: Mapping[str, Any] | None = None,
        random_state: int | None = None,
        enforce_validity: bool = True,
        candidates: int | None = None,
    ) -> SampleResult:
        """Like :meth:`sample`, also reporting the raw validity of the model's output."""
        self._check_fitted()
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ConfigError(f"n must be a positive integer, got {n!r}")
        k = self._candidates(candidates)
        seed = self.random_state if random_state is None else int(random_state)
        rng = np.random.default_rng([seed, 1])
        cls = self._classes_for(n, conditions, rng)
        return self._sample_classes(cls, seed, enforce_validity, k)

    def sample_classes(
        self,
        counts: Mapping[str, int],
        *,
        random_state: int | None = None,
        enforce_validity: bool = True,
        candidates: int | None = None,
    ) -> SampleResult:
        """Exactly ``counts[c]`` flows of each class ``c``, on one shared timeline."""
        self._check_fitted()
        k = self._candidates(candidates)
        if self.table_.condition_ is None:
            raise ConfigError(
                "this model was trained without a root_cause column, so it cannot generate "
                "flows of a given class"
            )
        bad = {k: v for k, v in counts.items() if not isinstance(v, int) or v < 0}
        if bad or not sum(counts.values()):
            raise ConfigError(f"class counts must be non-negative integers, not all 0: {counts}")
        cls = np.concatenate(
            [np.full(v, self._class_index(k), dtype=np.int64) for k, v in counts.items()]
        )
        seed = self.random_state if random_state is None else int(random_state)
        return self._sample_classes(cls, seed, enforce_validity, k)

    def _candidates(self, candidates: int | None) -> int:
        k = self.candidates if candidates is None else candidates
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ConfigError(f"candidates must be a positive integer, got {k!r}")
        if k > 1 and getattr(self, "refiner_", None) is None:
            raise ConfigError(
                "this model has no refiner (fitted with refiner=False, or saved before "
                "refiners existed), so it cannot pick among candidates; use candidates=1"
            )
        return k

    def _refined(
        self,
        cls: np.ndarray,
        seed: int,
        k: int,
        rng: np.random.Generator,
        refiner: Refiner | None = None,
    ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """``k`` candidates per requested flow; per skeleton, the refiner's top draws.

        Skeletons (class and categorical skeleton) are drawn once for the requested flows
        as without candidates; each is generated ``k`` times and decoded row for row. Every
        candidate gets ``logit + Gumbel noise`` and each skeleton keeps as many rows as it
        was drawn for, those with the largest keys: sampling without replacement in
        proportion to the estimated density ratio, inside each skeleton, so class counts
        and the skeletons' joint frequencies stay exactly as drawn. The kept rows keep
        their decoded values and get a timeline of their own. ``refiner`` defaults to the
        model's (fitting passes the one it is building).
        """
        refiner = self.refiner_ if refiner is None else refiner
        if refiner is None:  # checked by _candidates; kept for the type checker
            raise ConfigError("this model has no refiner; use candidates=1")
        combo = self.skeleton_.draw(len(cls), np.random.default_rng(seed), train=False, cls=cls)
        noise = np.random.default_rng([seed, 3])
        kept: list[tuple[Encoded, pd.DataFrame, dict[str, np.ndarray]]] = []
        # blocks of requested flows, so k x n candidates are never in memory at once
        for b, lo in enumerate(range(0, len(cls), _REFINE_BLOCK)):
            sl = slice(lo, lo + _REFINE_BLOCK)
            block_seed = (
                seed if b == 0 else int(np.random.SeedSequence([seed, b]).generate_state(1)[0])
            )
            kept.append(self._refine_block(refiner, cls[sl], combo[sl], block_seed, k, rng, noise))
        sub = Encoded(
            codes=np.concatenate([e.codes for e, _, _ in kept]),
            values=np.concatenate([e.values for e, _, _ in kept]),
            bits=np.concatenate([e.bits for e, _, _ in kept]),
            cls=np.concatenate([e.cls for e, _, _ in kept]),
        )
        frame = pd.concat([f for _, f, _ in kept], ignore_index=True)
        repairs = {r: np.concatenate([m[r] for _, _, m in kept]) for r in kept[0][2]}
        frame = self.table_.retime(sub, frame)
        cal = getattr(self, "calibrator_", None)
        if cal is not None:  # the new timeline calibrated as decoding does, then what is
            # binned on it (the client port per bin of time)
            first, second = cal.timed()
            frame = cal.apply(frame, self.table_.calibration_keys(sub), rng, first + second)
        return self.table_.time_order(frame, repairs)

    def _refine_block(
        self,
        refiner: Refiner,
        cls: np.ndarray,
        combo: np.ndarray,
        seed: int,
        k: int,
        rng: np.random.Generator,
        noise: np.random.Generator,
    ) -> tuple[Encoded, pd.DataFrame, dict[str, np.ndarray]]:
        """One block of :meth:`_refined`: its kept arrays, decoded rows and repair masks."""
        cand, cand_combo = np.tile(cls, k), np.tile(combo, k)
        with torch_settings(self.n_threads):
            enc = self._generate(cand, seed, cand_combo)
        frame, repairs = self._decode(enc, rng, sort=False, retimed=True)
        # every row is scored on its own, so all cores give the same scores as one
        key = refiner.logit(frame, os.cpu_count() or 1) + noise.gumbel(size=len(cand))
        order = np.lexsort((-key, cand_combo))  # by skeleton, best key first
        grouped = cand_combo[order]
        first = np.searchsorted(grouped, grouped, side="left")
        need = np.bincount(combo, minlength=int(cand_combo.max()) + 1)
        pick = np.sort(order[np.arange(len(order)) - first < need[grouped]])
        sub = Encoded(
            codes=enc.codes[pick], values=enc.values[pick], bits=enc.bits[pick], cls=cand[pick]
        )
        kept = frame.iloc[pick].reset_index(drop=True)
        return sub, kept, {r: m[pick] for r, m in repairs.items()}

    def _sample_classes(self, cls: np.ndarray, seed: int, enforce: bool, k: int) -> SampleResult:
        rng = np.random.default_rng([seed, 2])
        if k > 1:
            frame, ip_repairs = self._refined(cls, seed, k, rng)
        else:
            with torch_settings(self.n_threads):
                enc = self._generate(cls, seed)
            frame, ip_repairs = self._decode(enc, rng)
        ranks = getattr(self, "rank_matcher_", None)
        if ranks is not None:
            frame, order = ranks.match(frame)
            if order is not None:  # a repaired address moved with its row
                ip_repairs = {r: m[order] for r, m in ip_repairs.items()}
        checks = self.rules_.check(frame)
        masks = list(checks.values()) + list(ip_repairs.values())
        bad = np.logical_or.reduce(masks) if masks else np.zeros(len(frame), bool)
        violations = {k: int(v.sum()) for k, v in {**checks, **ip_repairs}.items()}
        named = [v for k, v in checks.items() if k in NAMED_RULES]
        bad_named = np.logical_or.reduce(named) if named else np.zeros(len(frame), bool)
        if enforce:
            frame, _ = self.rules_.repair(frame, rng, checks)
        return SampleResult(
            flows=frame,
            raw_validity=float(1.0 - bad.mean()) if len(frame) else 1.0,
            violations=violations,
            enforced=enforce,
            raw_validity_named_rules=float(1.0 - bad_named.mean()) if len(frame) else 1.0,
        )

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Save in the safe format (see :mod:`netrca.synth.persist`)."""
        from netrca.synth.persist import save_gan

        save_gan(self, path)


class _Progress:
    """A rich progress bar with the losses (silent unless ``enabled``)."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self.total = total
        self.progress: Any = None
        self.last_fid: float | None = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(
                TextColumn("training GAN"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self.progress.start()
            self.task = self.progress.add_task("train", total=self.total, info="")
        return self

    def update(self, step: int, losses: dict[str, float], fid: float | None, best: float) -> None:
        if self.progress is None or (step % 10 and fid is None):
            return
        if fid is not None:
            self.last_fid = fid
        info = f"critic {losses['critic']:+.3f}  gen {losses['generator']:+.3f}"
        if self.last_fid is not None:
            info += f"  fidelity {self.last_fid:.3f} (best {best:.3f})"
        self.progress.update(self.task, completed=step, info=info)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
