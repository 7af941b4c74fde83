"""Shipped configuration (YAML only): default.yaml, rules/, topology examples.

This file only tells code where those files live once installed.
"""
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"
