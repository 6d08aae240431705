"""Losses for dense prediction, one job per module; every loss reduces over the global batch.

cross_entropy: masked (partial) cross-entropy and median-frequency class weights;
gated_crf: the gated CRF loss, an edge-aware term that spreads sparse labels along image edges;
tags: WILDCAT pooling of class maps against image-level tags;
boxes: the box-tightness MIL term and the box-candidate term, on boxes directly;
reduction: the global-batch reduction they all use.
"""

from semiseg_tf.losses.boxes import BoxLoss
from semiseg_tf.losses.cross_entropy import MaskedCrossEntropy, median_frequency_weights
from semiseg_tf.losses.gated_crf import GatedCRFLoss, gated_crf_loss
from semiseg_tf.losses.tags import TagLoss, wildcat_pool

__all__ = ["BoxLoss", "GatedCRFLoss", "MaskedCrossEntropy", "TagLoss", "gated_crf_loss", "median_frequency_weights",
           "wildcat_pool"]
