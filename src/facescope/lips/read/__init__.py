"""Lip reading: a trainable, landmark-guided word-level visual speech recogniser.

A spatio-temporal multi-graph convolutional network over the lip landmarks
(anatomical, left-right symmetry and learned graphs, with temporal edges) guides a
visual front-end over the 88x88 mouth crops: its features modulate the front-end's
feature maps at three stages, an InfoNCE loss aligns the two streams and an auxiliary
word classifier supervises the graph stream; a bidirectional GRU (or a temporal conv
net) reads the fused per-frame features and classifies the word. Input per sample:
``crops`` (T, 88, 88) uint8 and ``lips`` (T, K, 2|3), as ``facescope lips VIDEO --out
DIR`` writes them to ``track_<id>.npz``. Loaders for LRW, GRID (word samples cut by the
alignments, speaker-independent split) and folders of ``.npz`` samples; top-1/top-5
word accuracy; ``.npz`` weights with JSON meta (no pickles).

No pretrained weights exist offline: train them (``facescope lips train``) and pass the
file to :class:`LipReader` / ``facescope lips predict --weights``. PyTorch is the
optional ``torch`` extra; it is imported only when a network is built or loaded.
See docs/lipreading.md.
"""

from facescope.lips.read.datasets import (
    FORMATS,
    GRID_UNSEEN,
    LipDataset,
    Split,
    Track,
    WordSample,
    load_dataset,
    read_alignment,
    read_track,
    source_track,
    split_dataset,
)
from facescope.lips.read.errors import LipReadingError
from facescope.lips.read.evaluate import Accuracy, accuracy
from facescope.lips.read.network import (
    WEIGHTS_FORMAT,
    NetConfig,
    build_network,
    load_weights,
    read_meta,
    save_weights,
    torch_available,
)
from facescope.lips.read.predict import LipReader, LipReadingPrediction, read_lips
from facescope.lips.read.train import (
    TrainConfig,
    TrainingSet,
    TrainReport,
    prepare_training_set,
    train_network,
)
from facescope.lips.read.workflow import LipTrainingRun, train_from_folder

__all__ = [
    "FORMATS",
    "GRID_UNSEEN",
    "WEIGHTS_FORMAT",
    "Accuracy",
    "LipDataset",
    "LipReader",
    "LipReadingError",
    "LipReadingPrediction",
    "LipTrainingRun",
    "NetConfig",
    "Split",
    "Track",
    "TrainConfig",
    "TrainReport",
    "TrainingSet",
    "WordSample",
    "accuracy",
    "build_network",
    "load_dataset",
    "load_weights",
    "prepare_training_set",
    "read_alignment",
    "read_lips",
    "read_meta",
    "read_track",
    "save_weights",
    "source_track",
    "split_dataset",
    "torch_available",
    "train_from_folder",
    "train_network",
]
