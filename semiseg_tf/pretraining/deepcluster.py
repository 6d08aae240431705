"""DeepCluster (Caron, Bojanowski, Joulin & Douze, "Deep Clustering for Unsupervised Learning of Visual
Features", ECCV 2018): alternate between clustering the network's features with k-means and training the
network to predict the cluster of each image.

As in the paper, each epoch: features of every image (centre crops) -> PCA whitening -> L2 normalisation
-> k-means (scikit-learn); an empty cluster is re-filled by splitting a random non-empty one (its centroid
perturbed both ways, its points re-assigned to the nearer of the two); images are drawn uniformly over
the clusters (a large cluster cannot dominate the loss); and the classifier is re-initialised, since
cluster ids mean nothing from one clustering to the next. The paper's Sobel input filter is left out:
the encoder must keep the segmenter's RGB input. Features are computed in training mode with BatchNorm
statistics frozen, so short runs do not cluster features of lagging moving averages.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from semiseg_tf.pretraining.images import center_crop, crops, decode_resized, plain_graph
from semiseg_tf.pretraining.pretext_model import PretextClassifier
from semiseg_tf.training.batchnorm import batchnorm_layers

LARGE_SET = 20000  # above this many images, MiniBatchKMeans instead of KMeans


# === Clustering ===
def pca_whiten(features: np.ndarray, dim: int, seed: int = 0) -> np.ndarray:
    """PCA to at most `dim` components, each scaled to unit variance (whitening), then rows L2-normalised.
    Components without variance (dead channels) are dropped rather than divided by zero."""
    from sklearn.decomposition import PCA

    features = np.asarray(features, np.float64)
    dim = max(1, min(dim, features.shape[0] - 1, features.shape[1]))
    pca = PCA(n_components=dim, random_state=seed)
    projected = pca.fit_transform(features)
    variance = pca.explained_variance_
    keep = variance > 1e-6 * max(variance.max(), 1e-12)
    whitened = projected[:, keep] / np.sqrt(variance[keep])
    return (whitened / np.maximum(np.linalg.norm(whitened, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def refill_empty_clusters(points: np.ndarray, assignments: np.ndarray, centroids: np.ndarray,
                          rng: np.random.Generator, epsilon: float = 1e-4):
    """Give every empty cluster points: take a random cluster with at least 2 points, move a copy of its
    centroid there (perturbed by +epsilon, the original by -epsilon) and re-assign that cluster's points to
    the nearer of the two; identical points (a tie) are split in half. Returns (assignments, centroids,
    number re-filled)."""
    assignments, centroids = assignments.copy(), centroids.astype(np.float64).copy()
    k, refilled = len(centroids), 0
    for empty in range(k):
        if np.any(assignments == empty):
            continue
        sizes = np.bincount(assignments, minlength=k)
        donors = np.flatnonzero(sizes >= 2)
        if donors.size == 0:
            raise ValueError(f"k-means with {k} clusters on {len(points)} images: too few distinct images to fill "
                             "every cluster; lower --method-option clusters.")
        donor = int(rng.choice(donors))
        members = np.flatnonzero(assignments == donor)
        centroids[empty] = centroids[donor] * (1 + epsilon)
        centroids[donor] = centroids[donor] * (1 - epsilon)
        to_empty = (np.linalg.norm(points[members] - centroids[empty], axis=1)
                    < np.linalg.norm(points[members] - centroids[donor], axis=1))
        if to_empty.all() or not to_empty.any():  # a tie or all on one side: split the cluster in half
            to_empty = np.zeros(len(members), bool)
            to_empty[rng.permutation(len(members))[:len(members) // 2]] = True
        assignments[members[to_empty]] = empty
        refilled += 1
    return assignments, centroids.astype(np.float32), refilled


@dataclass
class Clustering:
    assignments: np.ndarray  # (N,) cluster of every image, all clusters non-empty
    refilled: int  # clusters that k-means left empty


def cluster_features(features: np.ndarray, k: int, pca_dim: int, seed: int) -> Clustering:
    """PCA-whitened, L2-normalised features -> k-means -> every empty cluster re-filled."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    points = pca_whiten(features, pca_dim, seed)
    if len(points) > LARGE_SET:
        kmeans = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=1, batch_size=4096)
    else:
        kmeans = KMeans(n_clusters=k, random_state=seed, n_init=1, max_iter=100)
    assignments = kmeans.fit_predict(points).astype(np.int64)
    rng = np.random.default_rng(seed)
    assignments, _, refilled = refill_empty_clusters(points, assignments, kmeans.cluster_centers_, rng)
    return Clustering(assignments, refilled)


def uniform_over_clusters(assignments: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` image indices, the same number from every non-empty cluster (with replacement where a
    cluster is smaller than its share), shuffled: a uniform distribution over the pseudo-labels."""
    clusters = np.unique(assignments)
    share = math.ceil(count / len(clusters))
    drawn = [rng.choice(np.flatnonzero(assignments == c), share, replace=share > np.sum(assignments == c))
             for c in clusters]
    return rng.permutation(np.concatenate(drawn))[:count]


def reset_optimizer_slots(optimizer: keras.optimizers.Optimizer, variables) -> None:
    """Zero the optimizer's per-variable state (moments) of `variables`: a re-initialised layer starts afresh."""
    prefixes = tuple(f"{v.path.replace('/', '_')}_" for v in variables)
    for slot in optimizer.variables:
        if slot.name.startswith(prefixes):
            slot.assign(tf.zeros(slot.shape, slot.dtype))


# === The model ===
class DeepClusterPretext(PretextClassifier):
    """Encoder -> pooled features -> MLP (the features clustered) -> classifier over the clusters.

    Args:
        clusters: k (0: a tenth of the images, at least 2; the paper's 10000 suits ImageNet's 1.3 M).
        pca_dim: PCA dimensions before k-means (256 in the paper; at most the feature width).
        hidden: width of the MLP whose output is clustered.
        epoch_steps: steps between re-clusterings (0: one pass over the images).
    """

    paper = "Caron et al., ECCV 2018 (DeepCluster)"

    def __init__(self, segmenter, image_size: int = 128, clusters: int = 0, pca_dim: int = 256, hidden: int = 512,
                 epoch_steps: int = 0, seed: int = 0, num_images: int | None = None, **kwargs):
        super().__init__(segmenter, seed=seed, num_images=num_images, **kwargs)
        count = num_images or 0
        self.clusters = int(clusters) or max(2, min(count // 10, 10000))
        if num_images is not None and not 2 <= self.clusters < num_images:
            raise ValueError(f"--method-option clusters={self.clusters}: needs 2 <= clusters < the number of images "
                             f"({num_images}).")
        self.pca_dim, self.hidden, self.epoch_steps = int(pca_dim), int(hidden), int(epoch_steps)
        self.image_size = int(image_size)
        self.features_mlp = keras.Sequential([keras.layers.Dense(self.hidden, use_bias=False),
                                              keras.layers.BatchNormalization(),
                                              keras.layers.Activation("relu")], name="deepcluster_features")
        self.classifier = keras.layers.Dense(self.clusters, name="deepcluster_classifier")

    def embed(self, images, training=False):
        return self.features_mlp(self.pooled_features(images, training), training=training)

    def call(self, images, training=False):
        return self.classifier(self.embed(images, training))

    def options(self) -> dict:
        return {**super().options(), "clusters": self.clusters}

    def chance_level(self) -> float:
        return 1.0 / self.clusters  # images are drawn uniformly over the clusters

    def reset_classifier(self, epoch: int) -> None:
        """New random classifier weights (and optimizer moments) for a new clustering."""
        initializer = keras.initializers.GlorotUniform(seed=self.seed * 100003 + epoch)
        self.classifier.kernel.assign(initializer(self.classifier.kernel.shape))
        self.classifier.bias.assign(tf.zeros(self.classifier.bias.shape))
        if self.optimizer is not None and self.optimizer.built:
            reset_optimizer_slots(self.optimizer, [self.classifier.kernel, self.classifier.bias])

    def extract_features(self, samples, batch_size: int) -> np.ndarray:
        """(N, hidden) features of every image's centre crop, in training mode with BatchNorm frozen (the
        last batch is padded with the first images, so no BatchNorm sees a batch of one)."""
        paths = [str(s.image) for s in samples]
        paths += paths[:(-len(paths)) % batch_size]
        ds = tf.data.Dataset.from_tensor_slices(paths).map(
            plain_graph(lambda p: center_crop(decode_resized(p, self.image_size), self.image_size)),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(batch_size).prefetch(2)
        layers = batchnorm_layers(self)
        momenta = [layer.momentum for layer in layers]
        try:
            for layer in layers:
                layer.momentum = 1.0  # moving statistics stay as they are
            features = np.concatenate([self.frozen_forward(batch).numpy() for batch in ds])
        finally:
            for layer, momentum in zip(layers, momenta):
                layer.momentum = momentum
        return features[:len(samples)]

    def frozen_forward(self, images):
        """`embed` in training mode, traced once (with BatchNorm momentum 1, which the trace keeps), or eager
        when the model runs eagerly."""
        if self.run_eagerly:
            return self.embed(images, training=True)
        if getattr(self, "_frozen_forward", None) is None:
            self._frozen_forward = tf.function(lambda x: self.embed(x, training=True), reduce_retracing=True)
        return self._frozen_forward(images)

    # === The alternation ===
    def steps_per_epoch(self, num_images: int, batch_size: int) -> int:
        return self.epoch_steps or math.ceil(num_images / batch_size)

    def epoch_clustering(self, samples, config, run_dir: Path, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(assignments, the epoch's drawn image order): stored ones when a resumed run is inside this epoch,
        else a new clustering, stored in backup/clusters.npz and logged in clusters.csv."""
        stored_path = Path(run_dir) / "backup" / "clusters.npz"
        previous = None
        if stored_path.is_file():
            with np.load(stored_path) as stored:
                if int(stored["epoch"]) == epoch:
                    return stored["assignments"], stored["order"]
                previous = stored["assignments"]
        clustering = cluster_features(self.extract_features(samples, config.batch_size), self.clusters,
                                      self.pca_dim, config.seed + epoch)
        count = self.steps_per_epoch(len(samples), config.batch_size) * config.batch_size
        order = uniform_over_clusters(clustering.assignments, count, np.random.default_rng([config.seed, epoch]))
        stored_path.parent.mkdir(parents=True, exist_ok=True)
        part = stored_path.with_name("clusters.part.npz")
        np.savez(part, epoch=epoch, assignments=clustering.assignments, order=order)
        part.replace(stored_path)
        nmi = None
        if previous is not None and len(previous) == len(clustering.assignments):
            from sklearn.metrics import normalized_mutual_info_score

            nmi = float(normalized_mutual_info_score(previous, clustering.assignments))
        log_clustering(Path(run_dir) / "clusters.csv", epoch, epoch * count // config.batch_size, self.clusters,
                       clustering.refilled, nmi)
        return clustering.assignments, order

    def epoch_stream(self, samples, assignments, order, config, epoch: int, skip_steps: int) -> tf.data.Dataset:
        """The epoch's (crop, cluster) batches in the drawn order, after the `skip_steps` already trained."""
        paths = np.array([str(samples[i].image) for i in order])
        ds = tf.data.Dataset.from_tensor_slices((paths, assignments[order].astype(np.int32)))
        ds = ds.enumerate().skip(skip_steps * config.batch_size)
        element, base = crops(config.image_size, (0.3, 1.0)), epoch * len(order)

        def load(index, item):
            path, label = item
            return element(path, tf.stack([tf.constant(config.seed, tf.int64), base + index])), label

        ds = ds.map(plain_graph(load), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.batch(config.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)

    def train_steps(self, samples, config, run_dir: Path, start_step: int, fit) -> None:
        """Epochs of (cluster, re-initialise the classifier, train) until `config.steps`."""
        per_epoch = self.steps_per_epoch(len(samples), config.batch_size)
        step = start_step
        while step < config.steps:
            epoch, done = divmod(step, per_epoch)
            assignments, order = self.epoch_clustering(samples, config, run_dir, epoch)
            if done == 0:
                self.reset_classifier(epoch)
            count = min(per_epoch - done, config.steps - step)
            fit(lambda: self.epoch_stream(samples, assignments, order, config, epoch, done), step, count)
            step += count


def log_clustering(path: Path, epoch: int, step: int, clusters: int, refilled: int, nmi: float | None) -> None:
    """One clusters.csv row per clustering: NMI with the previous one measures how much it still moves."""
    new = not path.is_file()
    with path.open("a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(["epoch", "step", "clusters", "refilled_empty", "nmi_vs_previous"])
        writer.writerow([epoch, step, clusters, refilled, "" if nmi is None else f"{nmi:.4f}"])
