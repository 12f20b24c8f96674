"""Notebooks declare the optional packages they need (metadata `vlmrun_jupyter.requires`);
where those are missing they are not collected. tests/test_sdk_compat.py builds a venv
with the official SDK and validates sdk_style.ipynb there."""

from pathlib import Path

from vlmrun_jupyter.demo import missing_requirements

collect_ignore = [p.name for p in Path(__file__).parent.glob("*.ipynb") if missing_requirements(p)]
