"""What travels inside an exported model: classes, palette, input size, version, zoo name.

ONNX keeps it as string metadata properties (one JSON blob plus readable single keys),
a SavedModel as `semiseg_tf.json` beside `saved_model.pb`; a production pipeline
reads either without semiseg-tf installed.
"""

from __future__ import annotations

import json
from pathlib import Path

KEY = "semiseg_tf"
SAVEDMODEL_FILE = "semiseg_tf.json"


def export_metadata(classes, input_size, output: str, name: str | None = None,
                    version: str | None = None, normalisation: dict | None = None,
                    precision: str = "fp32") -> dict:
    """The metadata dict shared by every export format."""
    return {
        "classes": classes.names if classes else None,
        "palette": classes.palette if classes else None,
        "ignore_index": classes.ignore_index if classes else None,
        "input_size": list(input_size) if input_size else None,
        "input": "uint8 RGB NHWC in [0, 255]; normalisation is inside the graph",
        "normalisation": normalisation,
        "output": output,
        "precision": precision,
        "zoo_name": name,
        "version": version,
    }


def metadata_for(loaded, input_size, output: str, precision: str = "fp32") -> dict:
    """Export metadata of a LoadedModel; zoo entries contribute their name and version."""
    card = loaded.metadata if "zoo_entry" in loaded.metadata else {}
    config = loaded.model.get_config() if hasattr(loaded.model, "get_config") else {}
    normalisation = {"mean": config["mean"], "std": config["std"]} if "mean" in config else None
    return export_metadata(loaded.classes, input_size, output, card.get("name"), card.get("version"),
                           normalisation, precision)


def write_onnx_metadata(path: str | Path, metadata: dict) -> None:
    """Store `metadata` as ONNX metadata_props (rewrites the file atomically)."""
    import onnx

    path = Path(path)
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    entries = {KEY: json.dumps(metadata)}
    entries.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()})
    for key, value in entries.items():
        prop = proto.metadata_props.add()
        prop.key, prop.value = key, value
    tmp = path.with_name(path.name + ".part")
    onnx.save(proto, str(tmp))
    tmp.replace(path)


def read_onnx_metadata(path_or_session) -> dict:
    """The semiseg-tf metadata of an ONNX file or onnxruntime session ({} for foreign models)."""
    if isinstance(path_or_session, (str, Path)):
        import onnx

        props = {p.key: p.value for p in onnx.load(str(path_or_session), load_external_data=False).metadata_props}
    else:
        props = path_or_session.get_modelmeta().custom_metadata_map
    return json.loads(props[KEY]) if KEY in props else {}


def write_savedmodel_metadata(directory: str | Path, metadata: dict) -> None:
    (Path(directory) / SAVEDMODEL_FILE).write_text(json.dumps(metadata, indent=1))
