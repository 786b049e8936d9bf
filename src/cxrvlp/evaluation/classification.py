"""``cxrvlp evaluate linear``: label-fraction × seed runs of the linear probe (or fine-tuning) on one data set."""
from __future__ import annotations

import math
from pathlib import Path

from cxrvlp.evaluation import fractions as fr
from cxrvlp.evaluation import linear_probe as lp
from cxrvlp.evaluation import metrics
from cxrvlp.evaluation.data import EvalData, label_matrix
from cxrvlp.evaluation.encoder_source import EncoderSource
from cxrvlp.evaluation.features import cached_features, load_images
from cxrvlp.evaluation.report import roc_plot
from cxrvlp.evaluation.results import protocol, summary_markdown, summary_row, write_run

DEFAULT_FRACTIONS = (0.01, 0.1, 1.0)


def evaluate_linear(source: EncoderSource, data: EvalData, out_dir: str | Path, labels: tuple[str, ...] = (),
                    task_type: str = "multilabel", fractions: tuple[float, ...] = DEFAULT_FRACTIONS,
                    seeds: tuple[int, ...] = (0, 1, 2), finetune: bool = False, epochs: int = 10,
                    cache_dir: str | Path | None = None, dataset_name: str | None = None,
                    progress: bool = True) -> dict:
    if task_type not in lp.TASK_TYPES:
        raise ValueError(f"task type must be one of {lp.TASK_TYPES}, got {task_type!r}")
    names = tuple(labels) or data.label_names
    unknown = [n for n in names if n not in data.label_names]
    if unknown or not names:
        raise ValueError(f"labels {unknown or '(none)'} are not labels of adapter {data.adapter!r}: "
                         f"{list(data.label_names)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dataset = dataset_name or data.adapter
    y = {k: label_matrix(v, names) for k, v in data.splits.items()}
    if finetune:
        x = {k: load_images(v, source) for k, v in data.splits.items()}
    else:
        x = {k: cached_features(source, v, "global", cache_dir, progress=progress, description=f"features {k}")
             .numpy() for k, v in data.splits.items()}

    runs, subsets, best = [], {}, None
    for fraction in fractions:
        for seed in seeds if fraction < 1.0 or finetune else seeds[:1]:  # 100 % with a frozen probe: one run
            idx = fr.sample_fraction(y["train"], fraction, seed)
            subsets[f"{fr.fraction_name(fraction)}/seed{seed}"] = [data.splits["train"][i].study_id for i in idx]
            if finetune:
                scores = lp.finetune_scores(source.encoder, x["train"][idx], y["train"][idx], x["test"], task_type,
                                            epochs=epochs, seed=seed, progress=progress)
                chosen = None
            else:
                probe = lp.probe_multiclass if task_type == "multiclass" else lp.probe_multilabel
                scores, chosen = probe(x["train"][idx], y["train"][idx], x["validate"], y["validate"], x["test"],
                                       seed)
            result = lp.score_predictions(scores, y["test"], names, task_type)
            runs.append({"fraction": fraction, "seed": seed, "n_train": int(len(idx)), "C": chosen, **result})
            if fraction == max(fractions) and best is None:
                best = scores

    metric = "ACC" if task_type == "multiclass" else "AUROC"
    key = "accuracy" if task_type == "multiclass" else "auroc_macro"
    summary = [summary_row(dataset, metric, fr.fraction_name(f), [r[key] for r in runs if r["fraction"] == f])
               for f in fractions]
    if task_type == "multilabel" and len(names) > 1:
        summary += [summary_row(dataset, f"AUROC {n}", fr.fraction_name(f),
                                [r["per_label"][n]["auroc"] for r in runs if r["fraction"] == f])
                    for n in names for f in fractions]
    if best is not None and task_type == "multilabel":
        curves = {n: metrics.roc_points(best[:, j], y["test"][:, j]) for j, n in enumerate(names)
                  if not math.isnan(metrics.auroc(best[:, j], y["test"][:, j]))}
        if curves:
            aucs = {n: metrics.auroc(best[:, j], y["test"][:, j]) for j, n in enumerate(names)}
            roc_plot(curves, aucs, out / "roc_test.png",
                     f"{dataset}: test ROC, {fr.fraction_name(max(fractions))} labels, seed {seeds[0]}")
    fr.write_fraction_ids(out / "fraction_ids.json", subsets)
    results = {
        "protocol": protocol("linear probe" if not finetune else "fine-tuning", source, data, labels=list(names),
                             task_type=task_type, fractions=list(fractions), seeds=list(seeds),
                             fraction_ids="fraction_ids.json",
                             head="logistic regression (sklearn, C from validation)" if not finetune
                             else f"linear layer + encoder, {epochs} epochs AdamW"),
        "summary": summary, "runs": runs,
    }
    write_run(out, results, summary_markdown(summary, f"{dataset}: {results['protocol']['task']} ({source.label})"))
    return results

