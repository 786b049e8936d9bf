"""The library (encoders, layers, objectives, methods, data, recipes) imports neither Lightning nor the program
(``cxrvlp.training``, ``cxrvlp.cli``): a fresh interpreter imports it and looks at ``sys.modules``."""
import ast
import subprocess
import sys
from pathlib import Path

LIBRARY = ["cxrvlp.methods", "cxrvlp.objectives", "cxrvlp.encoders", "cxrvlp.data", "cxrvlp.layers", "cxrvlp.recipe",
           "cxrvlp.optim", "cxrvlp.text", "cxrvlp.phantom", "cxrvlp.evaluation.zeroshot_retrieval",
           "cxrvlp.methods.loading", "cxrvlp.export", "cxrvlp.export.writer", "cxrvlp.export.inference", "cxrvlp.vqa",
           "cxrvlp.vqa.evaluate", "cxrvlp.evaluation.reconstruction", "cxrvlp.evaluation.grounding_eval"]
PROGRAM = ("cxrvlp.training", "cxrvlp.cli")
SRC = Path(__file__).resolve().parents[1] / "src" / "cxrvlp"


def test_library_imports_no_lightning_and_no_program():
    code = ("import sys\n" + "".join(f"import {m}\n" for m in LIBRARY) +
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning') "
            f"or m.startswith({PROGRAM!r}))\nprint(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"the library pulled in {out.stdout.strip()}"


def test_no_library_module_names_the_program():
    """Not even a lazy import inside a function: only training/ and cli/ may import training/ or cli/."""
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] in ("training", "cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{rel}: {n}" for n in names if n.startswith(PROGRAM) or n.split(".")[0] == "lightning"]
    assert not offenders, offenders
