"""Invertible geometric transforms of NHWC tensors, for equivariance losses and test-time ensembles.

One `Transform` is a scale, then quarter turns, then an optional horizontal flip;
`inverse` undoes them in reverse order and resizes back to a given size, so the
same objects serve equivariance training (T f(x) vs f(T x)) and pseudo-label
ensembling (average of T^-1 f(T x)).
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf


@dataclass(frozen=True)
class Transform:
    """Scale by `scale`, rotate by `quarter_turns` x 90 degrees counter-clockwise, then flip."""

    scale: float = 1.0
    quarter_turns: int = 0
    flip: bool = False

    @property
    def name(self) -> str:
        parts = [f"scale{self.scale:g}"] if self.scale != 1 else []
        parts += [f"rot{90 * self.quarter_turns}"] if self.quarter_turns % 4 else []
        parts += ["hflip"] if self.flip else []
        return "+".join(parts) or "identity"

    def forward(self, x: tf.Tensor, interpolation: str = "bilinear") -> tf.Tensor:
        """T x for a batch (N, H, W, C)."""
        if self.scale != 1:
            size = tf.cast(tf.round(tf.cast(tf.shape(x)[1:3], tf.float32) * self.scale), tf.int32)
            x = tf.image.resize(x, size, method=interpolation)
        if self.quarter_turns % 4:
            x = tf.image.rot90(x, self.quarter_turns % 4)
        if self.flip:
            x = tf.image.flip_left_right(x)
        return x

    def inverse(self, y: tf.Tensor, size=None) -> tf.Tensor:
        """T^-1 y; resized to `size` (H, W) when given (needed after a scale)."""
        if self.flip:
            y = tf.image.flip_left_right(y)
        if self.quarter_turns % 4:
            y = tf.image.rot90(y, 4 - self.quarter_turns % 4)
        if size is not None:
            y = tf.image.resize(y, size, method="bilinear")
        return y


_GEOMETRIC = {"identity": Transform(), "flip": Transform(flip=True), "hflip": Transform(flip=True),
              "rot90": Transform(quarter_turns=1), "rot180": Transform(quarter_turns=2),
              "rot270": Transform(quarter_turns=3)}


def parse_transforms(spec: str) -> list[Transform]:
    """"hflip,rot90,scale=0.5" -> one Transform per token (the candidates of an equivariance loss)."""
    transforms = []
    for token in (t.strip() for t in spec.split(",") if t.strip()):
        if token.startswith("scale="):
            try:
                scale = float(token[6:])
            except ValueError:
                scale = 0.0
            if not 0 < scale < float("inf"):
                raise ValueError(f"'{token}' in '{spec}': a scale is a finite number > 0, e.g. scale=0.5")
            transforms.append(Transform(scale=scale))
        elif token in _GEOMETRIC:
            transforms.append(_GEOMETRIC[token])
        else:
            raise ValueError(f"unknown transform '{token}'; valid: {sorted(_GEOMETRIC)} or scale=S")
    if not transforms:
        raise ValueError("no transforms given; e.g. 'hflip,rot90'")
    return transforms


def ensemble_transforms(spec: str) -> list[Transform]:
    """"flip,scales=0.75,1,1.25" -> every scale combined with identity and each geometric token.

    Numbers after `scales=` continue the scale list, so the spec reads as typed on the CLI.
    """
    scales, geometric, in_scales = [], [Transform()], False
    for token in (t.strip() for t in spec.split(",") if t.strip()):
        if token.startswith("scales="):
            token, in_scales = token[7:], True
        try:
            value = float(token)
        except ValueError:
            in_scales = False
            if token not in _GEOMETRIC:
                raise ValueError(f"unknown transform '{token}'; valid: {sorted(_GEOMETRIC)}, "
                                 f"scales=S1,S2,...") from None
            if _GEOMETRIC[token] not in geometric:
                geometric.append(_GEOMETRIC[token])
            continue
        if not in_scales or value <= 0:
            raise ValueError(f"unexpected number '{token}' in '{spec}'; scales go after 'scales=' and are > 0")
        scales.append(value)
    return [Transform(scale=s, quarter_turns=g.quarter_turns, flip=g.flip)
            for s in (scales or [1.0]) for g in geometric]
