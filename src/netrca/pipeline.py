"""The pipeline: read or simulate → features → detect → incidents → analyses → outputs."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from rich.console import Console

from netrca import __version__
from netrca.config import Settings
from netrca.detect import Detector
from netrca.detect.persist import (
    load_detector,
    load_detector_bytes,
    read_model_bytes,
    save_detector,
)
from netrca.detect.threshold import threshold_advice
from netrca.errors import InputError, NetrcaError
from netrca.evaluate import evaluate_predictions, ground_truth, truth_categories
from netrca.features import flow_context
from netrca.io import CsvReader, ParquetReader, ReadResult, empty_rejects, read_flows
from netrca.io.canonical import canonicalize
from netrca.io.csvwrite import write_csv_fast, write_csv_views
from netrca.io.writers import to_parquet, write_json
from netrca.rca import (
    RuleAnalyzer,
    ScoredFlows,
    build_evidence,
    group_incidents,
    load_knowledge,
)
from netrca.report import RunWriter, build_summary, predictions_frame, read_manifest
from netrca.report.html import rebuild_report, write_report
from netrca.schema import OUTPUT_COLUMNS, Analysis
from netrca.simulate import Scenario, simulate

__all__ = [
    "MODEL_FILE",
    "Analyzer",
    "RunResult",
    "StageReporter",
    "analyze_scored",
    "evaluate_run",
    "fit_model",
    "load_or_simulate",
    "reanalyze",
    "run",
    "score_flows",
]

MODEL_FILE = "anomaly_detector.npz"


class Analyzer(Protocol):
    """Anything that turns evidence packs into analyses (rules, LLM analyzers)."""

    name: str

    def analyze(self, packs: list[Any]) -> list[Analysis]:
        """One analysis per pack, same order."""
        ...


class StageReporter:
    """Progress and timings on stderr (silent when ``quiet``)."""

    def __init__(self, quiet: bool = False) -> None:
        self.console = Console(stderr=True, quiet=quiet, highlight=False)
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage, showing a spinner while it runs."""
        t0 = time.perf_counter()
        with self.console.status(f"{name}…", spinner="dots"):
            yield
        dt = time.perf_counter() - t0
        self.timings[name] = round(dt, 3)
        self.console.print(f"[green]✓[/] {name} [dim]({dt:.1f} s)[/]")

    def info(self, text: str) -> None:
        """A line of information."""
        self.console.print(text)


@dataclass
class RunResult:
    """What a run produced (also written to its output folder)."""

    flows: pd.DataFrame
    predictions: pd.DataFrame
    rejects: pd.DataFrame
    analyses: list[Analysis]
    summary: dict[str, Any]
    evaluation: dict[str, Any] | None
    output_dir: Path | None
    timings: dict[str, float] = field(default_factory=dict)


def load_or_simulate(
    input_path: str | Path | None,
    fmt: str,
    settings: Settings,
    *,
    seed: int = 0,
    n_flows: int = 20000,
    mapping: Mapping[str, str] | None = None,
    label_column: str | None = None,
    category_column: str | None = None,
) -> ReadResult:
    """Read ``input_path``, or simulate the default scenario when it is None."""
    if input_path is not None:
        return read_flows(
            input_path,
            fmt,
            mapping=mapping,
            settings=settings,
            label_column=label_column,
            category_column=category_column,
        )
    frame = simulate(Scenario(n_flows=n_flows), seed=seed)
    lines = np.arange(2, len(frame) + 2, dtype=np.int64)
    result = canonicalize(
        frame, lines, lambda idx: [""] * len(idx), f"simulated(seed={seed})", "simulated"
    )
    if len(result.rejects):  # pragma: no cover - the simulator writes only valid rows
        raise NetrcaError(f"simulator produced {len(result.rejects)} invalid rows")
    return result


def fit_model(flows: pd.DataFrame, settings: Settings, **params: Any) -> Detector:
    """Fit a :class:`Detector` with settings-derived defaults overridden by ``params``."""
    args: dict[str, Any] = {
        "n_estimators": settings.n_estimators,
        "max_samples": settings.max_samples,
        "window_seconds": settings.window_seconds,
        "internal_networks": list(settings.internal_networks),
        "random_state": settings.random_state,
    }
    args.update({k: v for k, v in params.items() if v is not None})
    return Detector(**args).fit(flows)


def ground_truth_columns(read: ReadResult) -> tuple[str, ...]:
    """Columns that must never become features: ground truth and label-derived metadata."""
    return tuple(
        dict.fromkeys(
            (read.label_column, read.category_column, "label", "root_cause", *read.excluded)
        )
    )


def score_flows(flows: pd.DataFrame, detector: Detector) -> ScoredFlows:
    """Score every flow and collect what the RCA stage needs."""
    ctx = flow_context(flows, detector.features_.state_.internal_networks)
    scores = detector.score(flows, ctx)
    is_anomaly = scores.score >= detector.threshold_
    probe = ctx.failed | ctx.unanswered | ctx.refused | ((ctx.sent + ctx.received) < 120)
    top = scores.top_feature
    if top is None:
        top = detector._top_features(scores.features.to_numpy(dtype=np.float64))
    top_feature = np.asarray(detector.feature_names_in_, dtype=object)[top].tolist()
    base = detector.behaviour_
    return ScoredFlows(
        flows=flows,
        ts=ctx.ts,
        score=scores.score,
        is_anomaly=is_anomaly,
        reasons=scores.reasons,
        behaviour=scores.behaviour,
        rarity=scores.rarity,
        latency_baseline=detector.features_.latency_baseline(flows, ctx),
        src_internal=ctx.src_internal,
        dst_internal=ctx.dst_internal,
        failed=ctx.failed,
        probe=probe,
        mismatch=ctx.mismatch,
        top_feature=top_feature,
        threshold=detector.threshold_,
        service_failure_baseline=base.dst_fail_ratio,
        outbound_sent_baseline=float(np.expm1(base.outbound_log_sent_median)),
        unanswered=ctx.unanswered,
        refused=ctx.refused,
        has_time=detector.mode_ == "flows",
    )


def analyze_scored(
    scored: ScoredFlows,
    analyzer: Analyzer,
    *,
    gap_seconds: float = 3600.0,
) -> tuple[list[Analysis], np.ndarray, np.ndarray]:
    """Group anomalies into incidents and analyse each.

    Returns the analyses, the incident id per flow ("" for normal flows) and the
    predicted category per flow ("normal" for normal flows).
    """
    incidents = group_incidents(
        scored.flows, scored.is_anomaly, scored.reasons, scored.ts, gap_seconds=gap_seconds
    )
    packs = build_evidence(scored, incidents)
    analyses = analyzer.analyze(packs)
    n = len(scored.flows)
    incident_id = np.full(n, "", dtype=object)
    category = np.full(n, "normal", dtype=object)
    by_id = {a.incident_id: a for a in analyses}
    for inc in incidents:
        a = by_id.get(inc.incident_id)
        if a is None:
            raise NetrcaError(f"analyzer returned no analysis for {inc.incident_id}")
        incident_id[inc.rows] = inc.incident_id
        category[inc.rows] = a.category.value
    lost = scored.is_anomaly & (incident_id == "")
    if lost.any():  # pragma: no cover - group_incidents covers every anomalous flow
        raise NetrcaError(f"{int(lost.sum())} anomalous flows were not assigned to an incident")
    return analyses, incident_id, category


def _predictions(
    flows: pd.DataFrame, scored: ScoredFlows, incident_id: np.ndarray, category: np.ndarray
) -> pd.DataFrame:
    out = flows.copy()
    out["flow_id"] = np.arange(len(flows), dtype=np.int64)
    out["anomaly_score"] = np.round(scored.score, 6)
    out["is_anomaly"] = scored.is_anomaly
    out["incident_id"] = incident_id
    out["predicted_category"] = category
    out["reasons"] = scored.reasons
    return out


def _evaluate(
    flows: pd.DataFrame,
    scored: ScoredFlows,
    category: np.ndarray,
    incident_id: np.ndarray,
    label_column: str = "label",
    category_column: str = "root_cause",
) -> dict[str, Any] | None:
    truth = ground_truth(flows, label_column, category_column)
    if truth is None:
        return None
    return evaluate_predictions(
        truth,
        scored.score,
        scored.is_anomaly,
        threshold=scored.threshold,
        true_category=truth_categories(flows, category_column),
        predicted_category=category,
        incident_id=incident_id,
    )


def run(
    input_path: str | Path | None = None,
    *,
    fmt: str = "auto",
    output: str | Path | None = None,
    contamination: str | float = "auto",
    threshold: float | None = None,
    model: str | Path | None = None,
    seed: int = 0,
    n_flows: int = 20000,
    analyzer: Analyzer | None = None,
    settings: Settings | None = None,
    quiet: bool = False,
    mapping: Mapping[str, str] | None = None,
    write: bool = True,
    on_stage: Callable[[str], None] | None = None,
    label_column: str | None = None,
    category_column: str | None = None,
    extra_features: str | list[str] = "auto",
    target_fpr: float | None = None,
    synthetic: str | None = None,
    gan_model: str | Path | None = None,
    gan_params: Mapping[str, Any] | None = None,
) -> RunResult:
    """Run the whole pipeline and (unless ``write=False``) write the output folder.

    With ``model`` the saved detector scores the flows (baseline mode); otherwise a
    detector is fitted on the flows themselves (unsupervised mode). With
    ``synthetic="gan"`` the flows come from a GAN (``gan_model``, or one fitted on the
    simulated default scenario first) and ``fidelity.json`` is written too.
    """
    settings = settings or Settings()
    rep = StageReporter(quiet)
    out_dir = Path(output or settings.output_dir)
    writer = RunWriter(out_dir) if write else None
    fidelity: dict[str, Any] | None = None
    try:
        model_bytes: bytes | None = None
        if model is not None:
            # before the flows: a bad model fails the run before a large file is read
            with rep.stage("load model"):
                model_bytes = read_model_bytes(model)
                detector = load_detector_bytes(model_bytes, model)
        if synthetic is not None:
            from netrca.synth.source import synthetic_flows

            with rep.stage(f"generate flows ({synthetic})"):
                read, fidelity = synthetic_flows(
                    synthetic,
                    input_path,
                    model=gan_model,
                    n_flows=n_flows,
                    seed=seed,
                    gan_params=gan_params,
                )
        else:
            with rep.stage("read flows" if input_path else "simulate flows"):
                read = load_or_simulate(
                    input_path,
                    fmt,
                    settings,
                    seed=seed,
                    n_flows=n_flows,
                    mapping=mapping,
                    label_column=label_column,
                    category_column=category_column,
                )
        flows = read.flows
        if on_stage:
            on_stage("read")
        for note in read.notes:
            rep.info(f"  note: {note}")
        rep.info(
            f"  {len(flows):,} flows, {len(read.rejects):,} rejected"
            + ("  (feature table)" if read.fmt == "table" else "")
        )
        if read.skipped:
            rep.info("  skipped: " + ", ".join(f"{k} {v:,}" for k, v in read.skipped.items()))
        if model is None:
            with rep.stage("fit detector"):
                detector = fit_model(
                    flows,
                    settings,
                    contamination=contamination,
                    threshold=threshold,
                    random_state=seed or settings.random_state,
                    extra_features=extra_features,
                    exclude=ground_truth_columns(read),
                    target_fpr=target_fpr,
                )
        with rep.stage("score flows"):
            scored = score_flows(flows, detector)
        if on_stage:
            on_stage("score")
        rep.info(
            f"  {int(scored.is_anomaly.sum()):,} anomalous flows "
            f"(threshold {detector.threshold_:.3f})"
        )
        analyzer = analyzer or RuleAnalyzer(load_knowledge(settings.knowledge_file))
        with rep.stage("analyse incidents"):
            analyses, incident_id, category = analyze_scored(
                scored, analyzer, gap_seconds=settings.incident_gap_seconds
            )
        if on_stage:
            on_stage("analyze")
        rep.info(f"  {len(analyses):,} incidents")
        predictions = _predictions(flows, scored, incident_id, category)
        evaluation = _evaluate(
            flows, scored, category, incident_id, read.label_column, read.category_column
        )
        truth = ground_truth(flows, read.label_column, read.category_column)
        advice = threshold_advice(
            detector.train_score_quantiles_, detector.threshold_, scored.score, truth
        )
        rep.info(
            f"  expected alert rate on the fitted baseline "
            f"{100 * advice['expected_alert_rate']:.2f}%, "
            f"this run {100 * advice['alert_rate']:.2f}%"
        )
        if evaluation is not None:
            evaluation["threshold_tradeoff"] = advice["grid"]
        metadata = {
            "netrca_version": __version__,
            "input": str(input_path) if input_path else read.source,
            "format": read.fmt,
            "label_column": read.label_column,
            "category_column": read.category_column,
            "feature_mode": detector.mode_,
            "rows_read": read.n_read,
            "rows_rejected": len(read.rejects),
            "rows_skipped": read.skipped,
            "seed": seed,
            "mode": "baseline" if model else "unsupervised",
            "threshold": detector.threshold_,
            "contamination": detector.contamination,
            "detector": detector.get_params(),
            "analyzer": analyzer.name,
            "timings_seconds": rep.timings,
        }
        llm_stats = getattr(analyzer, "stats_", None)
        if llm_stats:
            metadata["llm"] = llm_stats
        summary = build_summary(flows, scored.is_anomaly, analyses, metadata)
        summary["threshold_advice"] = {k: v for k, v in advice.items() if k != "grid"}
        summary["threshold_advice"]["grid"] = [
            {
                k: v
                for k, v in row.items()
                if k in ("threshold", "alerts", "alert_rate", "expected_alert_rate")
            }
            for row in advice["grid"]
        ]
        if writer is not None:
            with rep.stage("write outputs"):
                # staged before the report, which shows it; a fidelity.json left by an
                # earlier run in this folder does not describe this run's data
                if fidelity is not None:
                    write_json(writer.path("fidelity.json"), fidelity)
                elif (writer.dir / "fidelity.json").exists():
                    (writer.dir / "fidelity.json").unlink()
                _write_outputs(
                    writer, read, predictions, analyses, summary, evaluation, detector, model_bytes
                )
                writer.commit(
                    {
                        "rows": len(flows),
                        "anomalies": int(scored.is_anomaly.sum()),
                        "incidents": len(analyses),
                    }
                )
            if on_stage:
                on_stage("write")
        if evaluation:
            rca = evaluation.get("root_cause") or {}
            acc = rca.get("accuracy")
            rep.info(
                f"  ROC-AUC {evaluation['roc_auc'] or float('nan'):.3f}  "
                f"F1 {evaluation['f1']:.3f}  FPR {evaluation['false_positive_rate']:.4f}"
                + (f"  root-cause accuracy {acc:.3f}" if acc is not None else "")
            )
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return RunResult(
        flows=flows,
        predictions=predictions,
        rejects=read.rejects,
        analyses=analyses,
        summary=summary,
        evaluation=evaluation,
        output_dir=out_dir if write else None,
        timings=rep.timings,
    )


def _write_outputs(
    writer: RunWriter,
    read: ReadResult,
    predictions: pd.DataFrame,
    analyses: list[Analysis],
    summary: dict[str, Any],
    evaluation: dict[str, Any] | None,
    detector: Detector,
    model_bytes: bytes | None = None,
) -> None:
    """Every output file of a run, staged in ``writer``.

    ``model_bytes``: the model file the detector was loaded from (baseline mode), copied
    as it is instead of serialising the same detector again.
    """
    preds = predictions_frame(predictions)
    with (
        writer.path("network_logs.csv").open("wb") as logs,
        writer.path("network_logs_with_predictions.csv").open("wb") as with_preds,
    ):  # the flows' columns are rendered once for both files
        write_csv_views(
            preds,
            [(logs, [str(c) for c in read.flows.columns]), (with_preds, list(map(str, preds)))],
        )
    # Arrow encodes and compresses the Parquet file without the GIL, so it runs beside
    # the JSON and HTML rendering below (pure Python) instead of before it.
    parquet_path = writer.path("network_logs_with_predictions.parquet")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="netrca-parquet") as pool:
        parquet = pool.submit(to_parquet, preds, parquet_path)
        rejects = read.rejects if len(read.rejects) else empty_rejects()
        _csv(rejects, writer.path("rejects.csv"))
        if model_bytes is not None:
            writer.path(MODEL_FILE).write_bytes(model_bytes)
        else:
            save_detector(detector, writer.path(MODEL_FILE))
        _write_analysis(writer, predictions, analyses, summary, evaluation)
        parquet.result()  # its error, if any, fails the run (nothing is committed)


def _write_analysis(
    writer: RunWriter,
    predictions: pd.DataFrame,
    analyses: list[Analysis],
    summary: dict[str, Any],
    evaluation: dict[str, Any] | None,
) -> None:
    """The analyses, summary, evaluation (when there is ground truth) and the report."""
    write_json(
        writer.path("root_cause_analyses.json"), [a.model_dump(mode="json") for a in analyses]
    )
    write_json(writer.path("analysis_summary.json"), summary)
    if evaluation is not None:
        write_json(writer.path("evaluation.json"), evaluation)
    write_report(writer, predictions, analyses, summary, evaluation)


PREDICTIONS = "network_logs_with_predictions"


def _csv(frame: pd.DataFrame, path: Path) -> None:
    """CSV with the same text as ``frame.to_csv(path, index=False)``, written by Arrow."""
    with path.open("wb") as fh:
        write_csv_fast(frame, fh)


def _load_run(run_dir: str | Path, settings: Settings) -> tuple[ReadResult, pd.DataFrame]:
    """A finished run's flows (canonical) and its prediction columns."""
    d = Path(run_dir)
    if not d.is_dir():
        raise InputError(f"{d}: no such run folder")
    if read_manifest(d) is None:
        raise InputError(f"{d}: run folder is incomplete (no complete manifest.json); rerun it")
    path = d / f"{PREDICTIONS}.parquet"
    if not path.exists():
        path = d / f"{PREDICTIONS}.csv"
    if not path.exists():
        raise InputError(f"{d}: no {PREDICTIONS}.parquet or .csv")
    reader = ParquetReader(required=()) if path.suffix == ".parquet" else CsvReader(required=())
    read = reader.read(path)
    meta = _run_metadata(d)
    read.label_column = str(meta.get("label_column") or "label")
    read.category_column = str(meta.get("category_column") or "root_cause")
    missing = [c for c in ("flow_id", "anomaly_score", "is_anomaly") if c not in read.flows]
    if missing:
        raise InputError(f"{path}: missing prediction column(s) {', '.join(missing)}")
    preds = read.flows[[c for c in OUTPUT_COLUMNS if c in read.flows.columns]].copy()
    flag = preds["is_anomaly"].astype(str).str.lower().isin(["true", "1", "1.0"])
    preds["is_anomaly"] = flag.to_numpy()
    preds["anomaly_score"] = pd.to_numeric(preds["anomaly_score"], errors="coerce").fillna(0.0)
    read.flows = read.flows.drop(columns=[c for c in OUTPUT_COLUMNS if c in read.flows.columns])
    return read, preds


def _run_metadata(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "analysis_summary.json"
    if not path.exists():
        return {}
    try:
        run: dict[str, Any] = json.loads(path.read_text("utf-8")).get("run", {})
    except (OSError, json.JSONDecodeError):
        return {}
    return run


def reanalyze(
    run_dir: str | Path,
    *,
    analyzer: Analyzer | None = None,
    analyzer_name: str = "rules",
    settings: Settings | None = None,
    quiet: bool = False,
) -> list[Analysis]:
    """Re-run root-cause analysis on a finished run, keeping its anomaly flags."""
    settings = settings or Settings()
    rep = StageReporter(quiet)
    if analyzer is None:
        from netrca.rca.llm import make_analyzer

        analyzer = make_analyzer(analyzer_name, settings)
    d = Path(run_dir)
    with rep.stage("load run"):
        read, preds = _load_run(d, settings)
        detector = load_detector(d / MODEL_FILE)
    with rep.stage("score flows"):
        scored = score_flows(read.flows, detector)
        scored.is_anomaly = preds["is_anomaly"].to_numpy(dtype=bool)
    with rep.stage("analyse incidents"):
        analyses, incident_id, category = analyze_scored(
            scored, analyzer, gap_seconds=settings.incident_gap_seconds
        )
    predictions = _predictions(read.flows, scored, incident_id, category)
    evaluation = _evaluate(
        read.flows, scored, category, incident_id, read.label_column, read.category_column
    )
    meta = _run_metadata(d)
    meta["analyzer"] = analyzer.name
    meta.pop("llm", None)
    llm_stats = getattr(analyzer, "stats_", None)
    if llm_stats:
        meta["llm"] = llm_stats
    summary = build_summary(read.flows, scored.is_anomaly, analyses, meta)
    writer = RunWriter(d)
    try:
        preds_out = predictions_frame(predictions)
        _csv(preds_out, writer.path(f"{PREDICTIONS}.csv"))
        to_parquet(preds_out, writer.path(f"{PREDICTIONS}.parquet"))
        _write_analysis(writer, predictions, analyses, summary, evaluation)
        writer.commit(
            {
                "rows": len(read.flows),
                "anomalies": int(scored.is_anomaly.sum()),
                "incidents": len(analyses),
            }
        )
    except BaseException:
        writer.abort()
        raise
    return analyses


def evaluate_run(
    run_dir: str | Path,
    *,
    label_column: str | None = None,
    category_column: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Metrics of a finished run against the ground truth in its flows; writes evaluation.json.

    The label and category columns default to those the run was read with.
    """
    settings = settings or Settings()
    d = Path(run_dir)
    read, preds = _load_run(d, settings)
    label_column = label_column or read.label_column
    category_column = category_column or read.category_column
    truth = ground_truth(read.flows, label_column, category_column)
    if truth is None:
        raise InputError(
            f"{d}: the flows have no ground truth "
            f"(no {label_column!r} or {category_column!r} column)"
        )
    threshold = float("nan")
    summary = d / "analysis_summary.json"
    if summary.exists():
        threshold = float(
            json.loads(summary.read_text("utf-8")).get("run", {}).get("threshold", threshold)
        )
    category = (
        preds["predicted_category"].astype(str).to_numpy(dtype=object)
        if "predicted_category" in preds
        else None
    )
    result = evaluate_predictions(
        truth,
        preds["anomaly_score"].to_numpy(dtype=float),
        preds["is_anomaly"].to_numpy(dtype=bool),
        threshold=threshold,
        true_category=truth_categories(read.flows, category_column),
        predicted_category=category,
        incident_id=preds["incident_id"].fillna("").astype(str).to_numpy(dtype=object)
        if "incident_id" in preds
        else None,
    )
    writer = RunWriter(d)
    try:
        write_json(writer.path("evaluation.json"), result)
        writer.commit({"rows": len(read.flows)})
    except BaseException:
        writer.abort()
        raise
    rebuild_report(d, evaluation=result)
    return result
