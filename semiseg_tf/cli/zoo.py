"""`semiseg-tf zoo list | show | verify | add`."""

from __future__ import annotations

import json

import click

from semiseg_tf.cli.options import friendly_errors
from semiseg_tf.cli.predict import use_zoo_root

zoo_option = click.option("--zoo", type=click.Path(file_okay=False), default=None,
                          help="Extra zoo root (like SEMISEG_ZOO); `add` writes there.")


@click.group("zoo")
def command():
    """Named, versioned, checksummed models (NAME@VERSION), shipped with the package or in SEMISEG_ZOO."""


@command.command("list")
@zoo_option
@friendly_errors
def list_command(zoo):
    """Every entry with its architecture, input size and val and test mIoU (test: a drive val never saw)."""
    from semiseg_tf.zoo import list_entries, zoo_roots
    from semiseg_tf.zoo.card import card_metrics

    use_zoo_root(zoo)
    entries = list_entries()
    if not entries:
        click.echo(f"no zoo entries in {[str(r) for r in zoo_roots()]}")
        return
    width = max(len("entry"), *(len(entry.reference) for entry in entries)) + 2  # names grow; columns follow
    click.echo(f"{'entry':<{width}}{'architecture':<22}{'input':<10}{'val mIoU':>9}{'test mIoU':>10}  location")
    for entry in entries:
        card = entry.card()
        size = "x".join(map(str, card["input"]["size"]))
        figures = card_metrics(card)
        val, test = (f"{100 * figures[s]['miou']:.1f}" if s in figures else "-" for s in ("val", "test"))
        click.echo(f"{entry.reference:<{width}}{card['architecture']['preset']:<22}{size:<10}{val:>9}{test:>10}  "
                   f"{entry.path}")


@command.command("show")
@click.argument("reference", metavar="NAME[@VERSION]")
@click.option("--json", "as_json", is_flag=True, help="Print card.json instead of the Markdown card.")
@zoo_option
@friendly_errors
def show_command(reference, as_json, zoo):
    """The model card of an entry (latest version when none is given)."""
    from semiseg_tf.zoo import resolve
    from semiseg_tf.zoo.card import render_card

    use_zoo_root(zoo)
    entry = resolve(reference)
    card = entry.card()
    click.echo(json.dumps(card, indent=1) if as_json else render_card(card) + f"\nlocation: {entry.path}")


@command.command("verify")
@click.argument("name", required=False)
@click.option("--checksums-only", is_flag=True, help="Skip loading the model and checking its reference outputs.")
@zoo_option
@friendly_errors
def verify_command(name, checksums_only, zoo):
    """Check the sha256 of every file and the reference outputs of every entry (of NAME)."""
    from semiseg_tf.zoo import list_entries, resolve, verify

    use_zoo_root(zoo)
    entries = [resolve(name)] if name and "@" in name else list_entries(name)
    if not entries:
        raise click.ClickException(f"no zoo entries{' named ' + name if name else ''}")
    failed = 0
    for entry in entries:
        try:
            stats = verify(entry, reference=not checksums_only)
            detail = "" if checksums_only else (f", reference max abs diff {stats['max_abs_diff']:.1e}, "
                                                f"agreement {100 * stats['argmax_agreement']:.2f} %")
            click.echo(f"OK     {entry.reference}: checksums match{detail}")
        except Exception as exc:  # noqa: BLE001 - report every entry, fail at the end
            failed += 1
            click.echo(f"FAILED {entry.reference}: {exc}")
    if failed:
        raise click.ClickException(f"{failed} of {len(entries)} entries failed verification")


@command.command("add")
@click.argument("source", metavar="RUN_DIR|NAME@VERSION")
@click.option("--name", required=True, help="Entry name: lower case letters, digits, '.', '_', '-'.")
@click.option("--version", required=True, help="Semantic version MAJOR.MINOR.PATCH; never overwritten.")
@click.option("--data", default=None,
              help="Dataset to evaluate on, as you would type it (default: the run's training data).")
@click.option("--split", "splits", multiple=True,
              help="Split to evaluate on, repeatable (default: val and test, each one the dataset has).")
@click.option("--data-licence", default=None, help="Licence of the training data (default: from the dataset README).")
@click.option("--trained-on", default=None, help="Machine the run trained on, if the run did not record it.")
@zoo_option
@friendly_errors
def add_command(source, name, version, data, splits, data_licence, trained_on, zoo):
    """Evaluate a finished run on val and test and add it as NAME@VERSION with a model card and checksums.

    SOURCE is a run directory, or an existing entry NAME@VERSION to publish again under a new version
    with the same files (same sha256) and fresh evaluations. The card records each split's figures and
    the command that reproduces them, with the data as given to --data (no absolute path: one outside
    the working folder and its parent becomes DATA).
    """
    from semiseg_tf.zoo import add_entry
    from semiseg_tf.zoo.card import render_card

    use_zoo_root(zoo)
    path = add_entry(source, name, version, zoo, data, splits, data_licence, trained_on, echo=click.echo)
    click.echo(render_card(json.loads((path / "card.json").read_text())))
    click.echo(f"Results saved to {path}")
