"""Every flag of nnc train says what it does in --help."""

import argparse

from nnc.runtime.cli import build_parser


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def test_every_train_flag_has_help():
    train = _subparser("train")
    missing = [
        "/".join(a.option_strings) or a.dest
        for a in train._actions
        if not isinstance(a, argparse._HelpAction) and not (a.help and a.help.strip())
    ]
    assert missing == []


def test_train_help_names_what_the_overrides_override(capsys):
    text = _subparser("train").format_help()
    for words in ("override train.epochs", "override optimizer.lr", "newest checkpoint", "CUDA"):
        assert words in " ".join(text.split())
