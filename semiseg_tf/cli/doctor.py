"""`semiseg-tf doctor`: which packages are installed and which devices and providers really run."""

from __future__ import annotations

import click


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def command(as_json):
    """Versions, TensorFlow's devices and CUDA build, onnxruntime's package and the providers that really run."""
    import json

    from semiseg_tf.diagnostics import collect, format_report

    report = collect()
    click.echo(json.dumps(report, indent=1) if as_json else format_report(report))
