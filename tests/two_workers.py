"""One worker of a two-worker cluster on 127.0.0.1 (MultiWorkerMirroredStrategy), or the one-device run
it is compared with; each prints its summary as JSON on its last line.

    python tests/two_workers.py DATA RUN_DIR STEPS single
    python tests/two_workers.py DATA RUN_DIR STEPS INDEX PORT0 PORT1     # INDEX 0 (chief) and 1, together

TF_CONFIG must be set before TensorFlow starts, so each worker is its own process.
"""

from __future__ import annotations

import json
import os
import sys


def main(data: str, run_dir: str, steps: str, role: str, *ports: str) -> None:
    if role != "single":
        os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
                                              "task": {"type": "worker", "index": int(role)}})
    import tensorflow as tf

    from semiseg_tf.training import TrainConfig, train

    tf.config.run_functions_eagerly(True)  # a 3-step run: tracing would cost more than the steps

    config = TrainConfig(data=data, model="deeplabv3plus-tiny", method="supervised", steps=int(steps), batch_size=4,
                         log_every=1, checkpoint_every=int(steps), bn_recalibration_batches=1, val_split=None)
    print(json.dumps(train(config, run_dir, verbose=0)))


if __name__ == "__main__":
    main(*sys.argv[1:])
