"""Runs the Store contract (tests/storage/contract.py) against every backend."""
from tests.storage.contract import *  # noqa: F401,F403
