"""Quiet by default, everything with `semiseg-tf --verbose` (or SEMISEG_VERBOSE=1).

Quiet mode is set up before TensorFlow is imported (commands import it lazily):
TensorFlow's C++ start-up lines ("All log messages before absl::InitializeLog()", the
oneDNN notice, twice: once per shared library) are written to file descriptor 2
while its libraries load, whatever TF_CPP_MIN_LOG_LEVEL says (TensorFlow 2.21), so
that one import runs with descriptor 2 sent to /dev/null. TensorFlow's and tf2onnx's
Python loggers (and the root logger, where Apache Beam notes missing optional clients) drop notes below ERROR, and FutureWarning /
DeprecationWarning (NumPy's `np.object` note from Keras' tf2onnx patch) are ignored.
oneDNN stays on: only its notice is hidden.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
import warnings

ENV = "SEMISEG_VERBOSE"
_QUIET_CATEGORIES = (FutureWarning, DeprecationWarning, PendingDeprecationWarning)
_verbose_flag = False


def is_verbose() -> bool:
    """True when `semiseg-tf --verbose` was given or SEMISEG_VERBOSE=1 is in the environment."""
    return _verbose_flag or os.environ.get(ENV, "").strip().lower() not in ("", "0", "false", "no")


def configure(verbose: bool) -> None:
    """Apply `--verbose` (show everything) or quiet mode; call before TensorFlow is imported."""
    global _verbose_flag
    _verbose_flag = bool(verbose)
    if verbose:
        os.environ[ENV] = "1"  # child processes (and is_verbose callers) see it too
    if is_verbose():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for category in _QUIET_CATEGORIES:
        warnings.filterwarnings("ignore", category=category)
    for name in ("tensorflow", "tf2onnx", "absl", ""):  # "": the root logger, which Apache Beam warns on
        logging.getLogger(name).setLevel(logging.ERROR)
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())


@contextlib.contextmanager
def stderr_descriptor_silenced():
    """Send file descriptor 2 (what C++ code writes to) to /dev/null for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _QuietImport:
    """A one-shot import hook: the first `import tensorflow` (also via `import keras`) runs with
    descriptor 2 silenced; it then removes itself. Nothing else about the import changes."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def quiet_exec_module(module):
            with stderr_descriptor_silenced():
                exec_module(module)
            _quiet_after_import()

        spec.loader.exec_module = quiet_exec_module
        return spec


def _quiet_after_import() -> None:
    """What can only be set once TensorFlow is loaded: absl's Python verbosity."""
    with contextlib.suppress(Exception):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
