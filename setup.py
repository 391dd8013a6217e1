"""Maps the top-level compiler/ and runtime/ folders under the one import name `nnc`."""

from setuptools import find_packages, setup

TOP = ("compiler", "runtime")
packages = [f"nnc.{p}" for p in find_packages(include=[f"{t}*" for t in TOP])]
setup(packages=packages, package_dir={f"nnc.{t}": t for t in TOP})
