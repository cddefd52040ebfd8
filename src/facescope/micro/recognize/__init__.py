"""Micro-expression recognition: an end-to-end network on raw frame sequences.

After MOL (Shao et al., "Joint Estimation of Micro-Expression, Optical Flow, and
Landmark via Transformer-Graph-Style Convolution", IEEE TPAMI 2025, arXiv:2506.14511):
F5C blocks (a transformer-style fully-connected convolution and a graph-style channel
correspondence convolution) extract local-global features from uniformly sampled face
crops, no key frames needed; recognition is trained jointly with optical-flow
estimation (TV-L1 or DIS targets) and 68-point landmark detection (loss weights 0.5 and
0.5), which share the features. Loaders for CASME II, SAMM and SMIC (users bring the
data), the 3-class composite and 5-class schemes, leave-one-subject-out evaluation
(UF1, UAR, accuracy), and ``.npz`` weights with JSON meta (no pickles).

No pretrained weights exist offline: train them (``facescope micro train``) and pass
the file to :class:`MicroRecognizer` / ``facescope micro predict --weights``.
PyTorch is the optional ``torch`` extra; it is imported only when a network is built.
See docs/micro-recognition.md.
"""

from facescope.micro.recognize.datasets import Clip, MicroDataset, load_dataset, read_sheet
from facescope.micro.recognize.errors import MicroRecognitionError, NoFaceInClipError
from facescope.micro.recognize.evaluate import LosoReport, Scores, loso, scores
from facescope.micro.recognize.labels import class_names, map_emotion
from facescope.micro.recognize.network import (
    WEIGHTS_FORMAT,
    NetConfig,
    build_network,
    load_weights,
    read_meta,
    save_weights,
    torch_available,
)
from facescope.micro.recognize.predict import (
    MicroExpressionPrediction,
    MicroRecognizer,
    recognize_clip,
)
from facescope.micro.recognize.preprocess import InputConfig, PreparedClip, prepare_clip
from facescope.micro.recognize.train import (
    TrainConfig,
    TrainingSet,
    TrainReport,
    prepare_training_set,
    train_network,
)

__all__ = [
    "WEIGHTS_FORMAT",
    "Clip",
    "InputConfig",
    "LosoReport",
    "MicroDataset",
    "MicroExpressionPrediction",
    "MicroRecognitionError",
    "MicroRecognizer",
    "NetConfig",
    "NoFaceInClipError",
    "PreparedClip",
    "Scores",
    "TrainConfig",
    "TrainReport",
    "TrainingSet",
    "build_network",
    "class_names",
    "load_dataset",
    "load_weights",
    "loso",
    "map_emotion",
    "prepare_clip",
    "prepare_training_set",
    "read_meta",
    "read_sheet",
    "recognize_clip",
    "save_weights",
    "scores",
    "torch_available",
    "train_network",
]
