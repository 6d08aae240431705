"""Training methods: each is a small keras.Model subclass that overrides train_step or its loss."""

from semiseg_tf.methods.base import SegmentationMethod
from semiseg_tf.methods.bbtp import BBTP
from semiseg_tf.methods.copypaste import CopyPaste
from semiseg_tf.methods.cps import CPS
from semiseg_tf.methods.equivariance import Equivariance
from semiseg_tf.methods.fixmatch import FixMatch
from semiseg_tf.methods.meanteacher import MeanTeacher
from semiseg_tf.methods.semi import SemiSupervisedMethod
from semiseg_tf.methods.uda import UDA
from semiseg_tf.methods.unimatch import UniMatch
from semiseg_tf.methods.wildcat import Wildcat

METHODS = {"supervised": SegmentationMethod, "fixmatch": FixMatch, "unimatch": UniMatch, "uda": UDA,
           "meanteacher": MeanTeacher, "cps": CPS, "equivariance": Equivariance,
           "copypaste": CopyPaste, "wildcat": Wildcat, "bbtp": BBTP}


def get_method(name: str) -> type[SegmentationMethod]:
    if name not in METHODS:
        raise ValueError(f"unknown method '{name}'; valid: {sorted(METHODS)}")
    return METHODS[name]


__all__ = ["BBTP", "CPS", "METHODS", "CopyPaste", "Equivariance", "FixMatch", "MeanTeacher", "SegmentationMethod",
           "SemiSupervisedMethod", "UDA", "UniMatch", "Wildcat",
           "get_method"]
