"""Names users bring from Keras, PyTorch and MATLAB get what nnc calls them, not the nearest
spelling (categorical_crossentropy is not binary_cross_entropy)."""

import pytest

from nnc.compiler.activations import ACTIVATIONS
from nnc.compiler.init import INITIALIZERS
from nnc.compiler.layers import LAYERS
from nnc.compiler.losses import LOSSES
from nnc.compiler.network import Network
from nnc.compiler.optim import OPTIMIZERS
from nnc.compiler.schedules import SCHEDULES
from nnc.compiler.spec.errors import SpecError
from nnc.compiler.spec.foreign import KEYS, VALUES, fold
from nnc.compiler.spec.model import parse_spec, schema

HEAD = "nnc: 1\ninput: {shape: [1, 8, 8]}\n"
LAYERS_OK = "layers:\n  - {type: flatten}\n  - {type: dense, units: 3}\n"


def messages(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        Network(parse_spec(text, "spec.yaml"))
    return [f"{d.path}: {d.message}" for d in info.value.diagnostics]


def one(text: str) -> str:
    found = messages(text)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    "loss, ours, note",
    [
        ("categorical_crossentropy", "cross_entropy", " (it takes integer class labels or one-hot"),
        ("sparse_categorical_crossentropy", "cross_entropy", " (it takes integer class labels)"),
        ("CrossEntropyLoss", "cross_entropy", "."),
        ("BCEWithLogitsLoss", "binary_cross_entropy", "."),
        ("mean_squared_error", "mse", "."),
        ("MSELoss", "mse", "."),
        ("mean_absolute_error", "mae", "."),
        ("SmoothL1Loss", "huber", " (PyTorch's SmoothL1Loss(beta=1) is huber with delta 1)"),
    ],
)
def test_foreign_loss_names(loss, ours, note):
    found = one(HEAD + LAYERS_OK + f"loss: {loss}\n")
    assert found.startswith(f"loss: unknown loss type '{loss}'; nnc calls it '{ours}'{note}")
    assert "Known loss types: binary_cross_entropy, cross_entropy" in found


@pytest.mark.parametrize(
    "layer, ours",
    [
        ("Dense", "dense"),
        ("Linear", "dense"),
        ("fullyConnectedLayer", "dense"),
        ("Conv2D", "conv2d"),
        ("MaxPooling2D", "max_pool2d"),
        ("MaxPool2d", "max_pool2d"),
        ("BatchNormalization", "batch_norm"),
        ("BatchNorm2d", "batch_norm"),
        ("GlobalAveragePooling2D", "global_avg_pool2d"),
        ("SiLU", "swish"),
    ],
)
def test_foreign_layer_types(layer, ours):
    found = one(HEAD + f"layers:\n  - {{type: {layer}}}\n")
    assert found.startswith("layers[0].type: unknown layer type")
    assert f"'{ours}'" in found.split(".")[0] + found  # nnc's name is given


def test_matlab_output_layers_say_where_the_loss_goes():
    found = one(HEAD + "layers:\n  - {type: flatten}\n  - {type: classificationLayer}\n")
    assert found == (
        "layers[1].type: unknown layer type 'classificationLayer': the loss is not a layer: "
        "write loss: cross_entropy"
    )


@pytest.mark.parametrize(
    "optimizer, message",
    [
        (
            "sgdm",
            "optimizer.type: unknown optimizer type 'sgdm'; nnc calls it 'sgd' (with momentum: "
            "{type: sgd, momentum: 0.9})",
        ),
        (
            "{type: adam, learning_rate: 0.01}",
            "optimizer.learning_rate: unknown key 'learning_rate'; nnc calls it 'lr'",
        ),
        (
            "{type: adam, beta_1: 0.8}",
            "optimizer.beta_1: unknown key 'beta_1'; nnc calls it 'beta1'",
        ),
    ],
)
def test_foreign_optimizer_names(optimizer, message):
    assert one(HEAD + LAYERS_OK + f"optimizer: {optimizer}\n").startswith(message)


@pytest.mark.parametrize(
    "layer, message",
    [
        (
            "{type: dense, units: 3, kernel_initializer: he_normal}",
            "layers[1].kernel_initializer: unknown key 'kernel_initializer'; nnc calls it 'init'",
        ),
        (
            "{type: dense, units: 3, bias_initializer: zeros}",
            "layers[1].bias_initializer: unknown key 'bias_initializer'; nnc calls it 'bias_init'",
        ),
        (
            "{type: dense, units: 3, init: xavier_uniform}",
            "layers[1].init: unknown initializer type 'xavier_uniform'; nnc calls it "
            "'glorot_uniform'",
        ),
        (
            "{type: dense, units: 3, activation: silu}",
            "layers[1].activation: unknown activation type 'silu'; nnc calls it 'swish'",
        ),
        (
            "{type: dense, in_features: 64, units: 3}",
            "layers[1].in_features: unknown key 'in_features': nnc infers input sizes: give "
            "only units",
        ),
    ],
)
def test_foreign_layer_options(layer, message):
    text = HEAD + f"layers:\n  - {{type: flatten}}\n  - {layer}\n"
    assert one(text).startswith(message)


def test_conv_options_by_their_keras_names():
    text = HEAD + "layers:\n  - {type: conv2d, filters: 2, kernel_size: 3, strides: 1}\n"
    found = messages(text)
    assert "layers[0].kernel_size: unknown key 'kernel_size'; nnc calls it 'kernel'" in found
    assert "layers[0].strides: unknown key 'strides'; nnc calls it 'stride'" in found


def test_swish_is_ours_now():
    text = HEAD + "layers:\n  - {type: flatten}\n  - {type: dense, units: 3, activation: swish}\n"
    Network(parse_spec(text))


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "epochs: 10\n",
            "epochs: unknown key 'epochs': it belongs under train: (train: {epochs: ...})",
        ),
        (
            "batch_size: 32\n",
            "batch_size: unknown key 'batch_size': it belongs under train: "
            "(train: {batch_size: ...})",
        ),
        (
            "learning_rate: 0.1\n",
            "learning_rate: unknown key 'learning_rate': it belongs under "
            "optimizer: (optimizer: {type: adam, lr: ...})",
        ),
        (
            "class_weight: {0: 1, 1: 5}\n",
            "class_weight: unknown key 'class_weight': it is an "
            "option of the loss: loss: {type: cross_entropy, class_weight: {0: 1.0, 1: 5.0}}",
        ),
        (
            "train: {MaxEpochs: 5}\n",
            "train.MaxEpochs: unknown key 'MaxEpochs'; nnc calls it 'epochs'",
        ),
        (
            "train: {MiniBatchSize: 5}\n",
            "train.MiniBatchSize: unknown key 'MiniBatchSize'; nnc calls it 'batch_size'",
        ),
        (
            "train: {patience: 5}\n",
            "train.patience: unknown key 'patience': write early_stopping: {patience: 5}",
        ),
        (
            "train: {early_stopping: {restore_best_weights: true}}\n",
            "train.early_stopping."
            "restore_best_weights: unknown key 'restore_best_weights'; nnc calls it 'restore_best'",
        ),
        (
            "data: {builtin: digits, split: {train: 0.8, test: 0.2}}\n",
            "data.split.train: "
            "unknown key 'train': the training part is what test and validation leave: give "
            "those, e.g. split: {test: 0.2, validation: 0.1}",
        ),
        (
            "data: {builtin: digits, split: {test_size: 0.2}}\n",
            "data.split.test_size: unknown key 'test_size'; nnc calls it 'test'",
        ),
        (
            "data: {csv: {path: a.csv, label: species}}\n",
            "data.csv.label: unknown key 'label'; nnc calls it 'target'",
        ),
    ],
)
def test_foreign_keys(text, message):
    assert one(HEAD + LAYERS_OK + text) == message


def test_names_that_differ_only_in_case_and_separators_are_a_did_you_mean():
    found = one(HEAD + LAYERS_OK + "loss: binary_crossentropy\n")
    assert "did you mean 'binary_cross_entropy'?" in found
    found = one(HEAD + "layers:\n  - {type: MaxPool2d}\n")
    assert "did you mean 'max_pool2d'?" in found


def test_a_spelling_did_you_mean_still_works_for_plain_typos():
    found = one(HEAD + LAYERS_OK + "loss: cross_entrpy\n")
    assert found.startswith("loss: unknown loss type 'cross_entrpy'; did you mean 'cross_entropy'?")


# --- the table itself ---------------------------------------------------------------------------

REGISTRIES = {
    "layer": LAYERS,
    "loss": LOSSES,
    "optimizer": OPTIMIZERS,
    "activation": ACTIVATIONS,
    "initializer": INITIALIZERS,
    "schedule": SCHEDULES,
}


def _keys_of(node, out=None) -> set[str]:
    out = set() if out is None else out
    if isinstance(node, dict):
        out.update(node.get("properties", {}))
        for v in node.values():
            _keys_of(v, out)
    elif isinstance(node, list):
        for v in node:
            _keys_of(v, out)
    return out


def test_every_name_the_table_gives_exists():
    for kind, table in VALUES.items():
        names = REGISTRIES[kind].names()
        for foreign, (ours, note) in table.items():
            assert ours is None or ours in names, (kind, foreign, ours)
            assert ours is not None or note, (kind, foreign)
            assert fold(foreign) not in {fold(n) for n in names}, (kind, foreign)
    keys = _keys_of(schema())
    for context, table in KEYS.items():
        for foreign, (ours, note) in table.items():
            assert ours is None or ours in keys, (context, foreign, ours)
            assert ours is not None or note, (context, foreign)
