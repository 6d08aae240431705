"""Cross pseudo supervision: two differently initialised networks label images for each other.

Chen, Yuan, Zeng & Wang, "Semi-Supervised Semantic Segmentation with Cross Pseudo
Supervision", CVPR 2021. Defaults from the paper: trade-off weight 1.5 (VOC), the
cross loss on labeled and unlabeled images, and its "CPS + CutMix" form: each network labels
two unlabeled images (no gradient), a box of one is pasted into the other, and each network
learns the mixed image from the other's mixed labels (one box per image here; the paper's code
pastes up to three). The first network (`segmenter`) is deployed.

In the paper both networks start from the same ImageNet-pretrained backbone and differ in their
randomly initialised segmentation heads; here the peer copies the segmenter's encoder (pretrained
by `--init-from` or self-supervision, or its random initialisation) and gets its own decoder and
head (`peer_init="encoder"`). `peer_init="scratch"` initialises the whole peer afresh.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from semiseg_tf.methods.semi import SemiSupervisedMethod, clone_segmenter, pseudo_label_loss
from semiseg_tf.methods.strong_augment import cutmix_box, mix, partner
from semiseg_tf.models.layers import PACKAGE


PEER_INITS = ("encoder", "scratch")


def hard_labels(logits):
    return tf.argmax(tf.stop_gradient(logits), axis=-1, output_type=tf.int32)


@keras.saving.register_keras_serializable(package=PACKAGE)
class CPS(SemiSupervisedMethod):
    """Both networks train (supervised loss each, summed); the peer is tracked so checkpoints hold it.

    Args:
        unsup_weight: lambda, the weight of the cross pseudo-label loss (1.5).
        cutmix_p: probability that an unlabeled image gets a box of its partner (1.0; 0 = plain CPS).
        peer_init: "encoder" (the peer starts from the segmenter's encoder weights, decoder and head
            fresh: the paper's setting) or "scratch" (every peer weight fresh).
        (others: see SemiSupervisedMethod)
    """

    part_names = ("loss_sup", "loss_unsup", "agreement")

    def __init__(self, segmenter, unsup_weight: float = 1.5, cutmix_p: float = 1.0, peer_init: str = "encoder",
                 **kwargs):
        super().__init__(segmenter, unsup_weight=unsup_weight, **kwargs)
        if peer_init not in PEER_INITS:
            raise ValueError(f"peer_init='{peer_init}': valid values are {list(PEER_INITS)}")
        if kwargs.get("unsup_class_weights"):  # every pixel is a pseudo-label here: no confidence mask
            raise ValueError("unsup_class_weights=true makes CPS collapse: without a confidence mask the class "
                             "weights amplify every rare-class label the peer gives, and both networks end up "
                             "predicting one class (CamVid 1/8: 0.8 val mIoU, "
                             "docs/2026-11-25-semi-supervised-camvid-1-8.md). Leave it off for cps; fixmatch and "
                             "unimatch weight only their confident pseudo-labels.")
        self.cutmix_p, self.peer_init = float(cutmix_p), peer_init
        self.peer = clone_segmenter(segmenter, "peer", copy_weights=False)
        if peer_init == "encoder":
            self.peer.encoder.set_weights(segmenter.encoder.get_weights())

    def mixed_view(self, unlabeled):
        """(CutMixed images, each network's labels of the unmixed images mixed alike).

        The source labels come from inference-mode passes (as UniMatch labels its mix sources):
        no dropout, and no third batch in the BatchNorm statistics.
        """
        box = cutmix_box(tf.shape(unlabeled), self.seed_generator, self.cutmix_p)
        sources = [hard_labels(net(unlabeled, training=False)) for net in (self.segmenter, self.peer)]
        return mix(box, partner(unlabeled), unlabeled), [mix(box, partner(s), s) for s in sources]

    def loss_parts(self, images, masks, unlabeled):
        mixed_labels = None
        if self.cutmix_p:
            unlabeled, mixed_labels = self.mixed_view(unlabeled)
        joint = tf.concat([images, unlabeled], axis=0)
        n_labeled = tf.shape(images)[0]
        logits_a = self.segmenter(joint, training=True)
        logits_b = self.peer(joint, training=True)
        labels_a, labels_b = hard_labels(logits_a), hard_labels(logits_b)
        if mixed_labels is not None:  # the unlabeled part is learnt from the mixed labels of the sources
            labels_a, labels_b = (tf.concat([labels[:n_labeled], mixed], axis=0)
                                  for labels, mixed in zip((labels_a, labels_b), mixed_labels))
        parts = {
            "loss_sup": (self.supervised_loss(images, masks, logits_a[:n_labeled])
                         + self.supervised_loss(images, masks, logits_b[:n_labeled])),
            "loss_unsup": (pseudo_label_loss(logits_a, labels_b, self.pseudo_label_weights(labels_b, True))
                           + pseudo_label_loss(logits_b, labels_a, self.pseudo_label_weights(labels_a, True))),
            "agreement": tf.reduce_mean(tf.cast(labels_a == labels_b, tf.float32)),
        }
        return parts, (joint, logits_a)

    def method_config(self) -> dict:
        return {**super().method_config(), "cutmix_p": self.cutmix_p, "peer_init": self.peer_init}
