"""Names users bring from Keras, PyTorch, MATLAB and Caffe, and what nnc calls the same thing.

A spelling-based did-you-mean guesses wrong on these (`categorical_crossentropy` is closest to
`binary_cross_entropy`, `split.train` to `stratify`), so an unknown name is looked up here first,
and the message says what nnc calls it, with a note where the two differ. Names are compared
without case and without `_`/`-` (MaxPooling2D, max_pooling_2d and maxpooling2d are one name).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# A foreign name -> (nnc's name, or None where nnc has no such thing; a note, may be "").
Entry = tuple[str | None, str]


def _table(groups: dict[str | None, tuple]) -> dict[str, Entry]:
    """{ours: (foreign names..., or (name, note) pairs)} -> {folded foreign name: (ours, note)}."""
    out: dict[str, Entry] = {}
    for ours, names in groups.items():
        for item in names:
            name, note = item if isinstance(item, tuple) else (item, "")
            out[fold(name)] = (ours, note)
    return out


def fold(name: str) -> str:
    """The form names are compared in: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


# Values of a `type:` (or a bare name) by the kind of thing they name.
VALUES: dict[str, dict[str, Entry]] = {
    "layer": _table(
        {
            "dense": ("Linear", "fullyConnectedLayer", "FullyConnected", "InnerProduct", "fc"),
            "conv2d": ("Convolution2D", "convolution2dLayer", "Convolution", "conv"),
            "max_pool2d": ("MaxPooling2D", "maxPooling2dLayer", "MaxPool"),
            "avg_pool2d": ("AveragePooling2D", "averagePooling2dLayer", "AvgPool"),
            "global_avg_pool2d": (
                "GlobalAveragePooling2D",
                "globalAveragePooling2dLayer",
                ("AdaptiveAvgPool2d", "PyTorch's AdaptiveAvgPool2d(1)"),
            ),
            "batch_norm": (
                "BatchNormalization",
                "BatchNorm1d",
                "BatchNorm2d",
                "batchNormalizationLayer",
            ),
            "dropout": ("dropoutLayer",),
            "flatten": ("flattenLayer",),
            "relu": ("reluLayer",),
            "leaky_relu": ("leakyReluLayer",),
            "elu": ("eluLayer",),
            "tanh": ("tanhLayer",),
            "sigmoid": ("sigmoidLayer",),
            "softmax": ("softmaxLayer",),
            "gelu": ("geluLayer",),
            "swish": ("SiLU", "swishLayer"),
            "lstm": ("lstmLayer",),
            "gru": ("gruLayer",),
            "simple_rnn": ("RNN", "SimpleRNNCell"),
            "concat": ("Concatenate", "concatenationLayer", "depthConcatenationLayer", "cat"),
            "add": ("additionLayer",),
            "local_response_norm": ("crossChannelNormalizationLayer", "LRN"),
            None: (
                (
                    "Activation",
                    "an activation is a layer type of its own ({type: relu}) or a "
                    "layer's option (activation: relu)",
                ),
                ("classificationLayer", "the loss is not a layer: write loss: cross_entropy"),
                ("regressionLayer", "the loss is not a layer: write loss: mse"),
                ("InputLayer", "the input is not a layer: write input: {shape: [...]}"),
                ("Input", "the input is not a layer: write input: {shape: [...]}"),
                ("imageInputLayer", "the input is not a layer: write input: {shape: [C, H, W]}"),
                ("featureInputLayer", "the input is not a layer: write input: {shape: [F]}"),
                ("sequenceInputLayer", "the input is not a layer: write input: {shape: [T, F]}"),
            ),
        }
    ),
    "loss": _table(
        {
            "cross_entropy": (
                ("categorical_crossentropy", "it takes integer class labels or one-hot rows"),
                ("sparse_categorical_crossentropy", "it takes integer class labels"),
                "CrossEntropyLoss",
                "crossentropyex",
                "softmax_cross_entropy",
                ("NLLLoss", "it reads logits, or the output of a last softmax or log_softmax"),
                ("nll", "it reads logits, or the output of a last softmax or log_softmax"),
            ),
            "binary_cross_entropy": (
                ("BCELoss", "it reads logits, or the output of a last sigmoid"),
                "BCEWithLogitsLoss",
                "sigmoid_cross_entropy",
                "log_loss",
            ),
            "mse": ("mean_squared_error", "MSELoss", "l2", "l2_loss", "squared_error"),
            "mae": ("mean_absolute_error", "L1Loss", "l1", "l1_loss", "absolute_error"),
            "huber": (
                "huber_loss",
                "HuberLoss",
                ("SmoothL1Loss", "PyTorch's SmoothL1Loss(beta=1) is huber with delta 1"),
            ),
            "hinge": (
                ("MultiMarginLoss", "nnc's sums the margins without dividing by the classes"),
                ("categorical_hinge", "nnc's is Weston-Watkins: it sums over the wrong classes"),
            ),
            "focal": ("sigmoid_focal_loss", "BinaryFocalCrossentropy", "focal_loss"),
        }
    ),
    "optimizer": _table(
        {
            "sgd": (
                ("sgdm", "with momentum: {type: sgd, momentum: 0.9}"),
                ("momentum", "with momentum: {type: sgd, momentum: 0.9}"),
                ("nesterov", "with nesterov: {type: sgd, momentum: 0.9, nesterov: true}"),
                "gradient_descent",
                "GradientDescent",
            ),
            "adamw": ("AdamWeightDecay",),
        }
    ),
    "activation": _table(
        {
            "linear": ("identity", "none", "purelin"),
            "swish": ("silu",),
            "sigmoid": ("logistic", "logsig"),
            "tanh": ("tansig",),
            "step": ("heaviside", "hardlim", "threshold"),
            "leaky_relu": ("lrelu",),
        }
    ),
    "initializer": _table(
        {
            "glorot_uniform": ("xavier_uniform", "xavier"),
            "glorot_normal": ("xavier_normal",),
            "he_uniform": ("kaiming_uniform",),
            "he_normal": ("kaiming_normal", ("he", "MATLAB's 'he' draws normally")),
            "normal": (
                "random_normal",
                "RandomNormal",
                "gaussian",
                ("narrow-normal", "MATLAB's narrow-normal: {type: normal, stddev: 0.01}"),
            ),
            "uniform": ("random_uniform", "RandomUniform"),
            "zeros": ("zero",),
            "ones": ("one",),
        }
    ),
    "schedule": _table(
        {
            "step": ("StepLR", "piecewise", "step_decay"),
            "multistep": ("MultiStepLR", "PiecewiseConstantDecay"),
            "exponential": ("ExponentialLR", "ExponentialDecay"),
            "cosine": ("CosineAnnealingLR", "CosineDecay"),
            "inverse_time": ("InverseTimeDecay",),
        }
    ),
}

_TRAIN = "it belongs under train: (train: {{{key}: ...}})"
_OPTIMIZER = "it belongs under optimizer: (optimizer: {{type: adam, {key}: ...}})"

# Keys of a mapping, by the kind of mapping (a schema's x-kind, or the key the mapping is under);
# "*" applies in any mapping that has nnc's key. A None name: nnc has none; the note says why.
KEYS: dict[str, dict[str, Entry]] = {
    "*": _table(
        {
            "init": ("kernel_initializer", "WeightsInitializer", "weight_init", "weights_init"),
            "bias_init": ("bias_initializer", "BiasInitializer"),
            "recurrent_init": ("recurrent_initializer", "RecurrentWeightsInitializer"),
            "kernel": ("kernel_size", "FilterSize"),
            "stride": ("strides",),
            "size": ("pool_size", "PoolSize"),
            "units": ("out_features", "hidden_size", "NumHiddenUnits", "OutputSize"),
            "filters": ("out_channels", "num_filters", "NumFilters", "num_output"),
            "dilation": ("dilation_rate", "DilationFactor"),
            "padding": ("pad",),
            "rate": ("p", "Probability", "dropout_rate"),
            "use_bias": ("bias_term",),
            "lr": ("learning_rate", "InitialLearnRate", "base_lr"),
            "beta1": ("beta_1",),
            "beta2": ("beta_2",),
            "epsilon": ("eps",),
            "clip_norm": ("clipnorm", "max_grad_norm", "GradientThreshold"),
            "weight_decay": ("decoupled_weight_decay",),
            "epochs": ("MaxEpochs", "num_epochs", "n_epochs", "max_iter"),
            "batch_size": ("MiniBatchSize", "batchsize"),
            "validate_every": ("ValidationFrequency", "validation_freq", "test_interval"),
            "seed": ("random_state", "random_seed", "manual_seed"),
            "restore_best": ("restore_best_weights",),
            "stratify": ("stratified",),
            "validation": ("val", "valid", "validation_split", "val_split"),
            "test": ("test_size", "test_split"),
            "target": ("label", "labels", "target_column", "label_column", "y"),
            "features": ("columns", "feature_columns", "x"),
            "delimiter": ("sep", "separator"),
            "header": ("has_header",),
            "class_weight": ("weight", "class_weights", "ClassWeights"),
            None: (
                ("in_features", "nnc infers input sizes: give only units"),
                ("in_channels", "nnc infers input sizes: give only filters"),
                ("input_shape", "the network's input is input: {shape: [...]}"),
                ("input_dim", "the network's input is input: {shape: [...]}"),
            ),
        }
    ),
    "spec": _table(
        {
            None: tuple(
                (k, _TRAIN.format(key=ours))
                for k, ours in (
                    ("epochs", "epochs"),
                    ("MaxEpochs", "epochs"),
                    ("batch_size", "batch_size"),
                    ("MiniBatchSize", "batch_size"),
                    ("seed", "seed"),
                    ("shuffle", "shuffle"),
                    ("early_stopping", "early_stopping"),
                    ("validate_every", "validate_every"),
                )
            )
            + tuple(
                (k, _OPTIMIZER.format(key="lr"))
                for k in ("lr", "learning_rate", "InitialLearnRate")
            )
            + (
                ("input_shape", "write input: {shape: [...]}"),
                ("model", "the layers are listed under layers:"),
                ("dataset", "the data is described under data:"),
                ("metrics", "nnc records the loss and accuracy (or mae) of every run itself"),
                ("callbacks", "early stopping is train: {early_stopping: {...}}"),
                ("validation_split", "write data: {split: {validation: 0.2}}"),
                ("weight_decay", "write regularization: {l2: ...} (or the optimizer's own)"),
                ("l2", "write regularization: {l2: ...}"),
                (
                    "class_weight",
                    "it is an option of the loss: loss: {type: cross_entropy, "
                    "class_weight: {0: 1.0, 1: 5.0}}",
                ),
            )
        }
    ),
    "train": _table(
        {
            None: (
                ("lr", _OPTIMIZER.format(key="lr")),
                ("learning_rate", _OPTIMIZER.format(key="lr")),
                ("optimizer", "it is a section of its own: optimizer: adam"),
                ("loss", "it is a section of its own: loss: cross_entropy"),
                ("patience", "write early_stopping: {patience: 5}"),
                ("ValidationPatience", "write early_stopping: {patience: 5}"),
                ("callbacks", "early stopping is early_stopping: {...}"),
                ("validation_split", "write data: {split: {validation: 0.2}}"),
                (
                    "class_weight",
                    "it is an option of the loss: loss: {type: cross_entropy, "
                    "class_weight: {0: 1.0, 1: 5.0}}",
                ),
                ("L2Regularization", "write regularization: {l2: ...}"),
            )
        }
    ),
    "split": _table(
        {
            None: (
                (
                    "train",
                    "the training part is what test and validation leave: give those, "
                    "e.g. split: {test: 0.2, validation: 0.1}",
                ),
                (
                    "train_size",
                    "the training part is what test and validation leave: give "
                    "those, e.g. split: {test: 0.2, validation: 0.1}",
                ),
            )
        }
    ),
    "data": _table(
        {
            None: (
                ("x", "inline data is data: {inline: {x: [...], y: [...]}}"),
                ("validation_split", "write split: {validation: 0.2}"),
                ("test_split", "write split: {test: 0.2}"),
                ("path", "name the format: data: {csv: {path: ...}} or data: {npz: {path: ...}}"),
                ("file", "name the format: data: {csv: {path: ...}} or data: {npz: {path: ...}}"),
            )
        }
    ),
}


def foreign_value(kind: str | None, name: object, allowed: Iterable[object]) -> Entry | None:
    """What nnc calls `name`, a value of a `kind` (layer, loss, ...; None: any kind), if it is a
    foreign name: (nnc's name, note), nnc's name one of `allowed`; or (None, note)."""
    if not isinstance(name, str):
        return None
    folded = {fold(a): a for a in allowed if isinstance(a, str)}
    for k in [kind] if kind in VALUES else list(VALUES):
        entry = VALUES[k].get(fold(name))
        if entry is None:
            continue
        ours, note = entry
        if ours is None:
            return entry
        found = folded.get(fold(ours))
        if found is not None and found != name:
            return found, note
    return None


def foreign_key(context: str | None, key: str, known: Iterable[str]) -> Entry | None:
    """What nnc calls `key` in a mapping of `context` (its kind, or the key it is under) whose
    keys are `known`: (nnc's key, note), or (None, note) for a key that belongs elsewhere."""
    known = set(known)
    for table in ([KEYS[context]] if context in KEYS else []) + [KEYS["*"]]:
        entry = table.get(fold(key))
        if entry is None:
            continue
        ours, note = entry
        if ours is None:
            return entry
        if ours in known and ours != key:
            return ours, note
    return None
