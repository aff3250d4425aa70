"""The class-aware crop's class check: the candidates it chooses, on every backend.

The fixture ``tests/data/class_check_attempts.json`` was recorded from the class check that
warped and counted each candidate's labels one view at a time (``tests/class_check_cases.py``),
so any rewrite of the counting must choose exactly the same candidates for the same keyed draws.
"""

import json
from pathlib import Path

import class_check_cases

FIXTURE = Path(__file__).parent / "data" / "class_check_attempts.json"


def test_the_same_candidates_as_recorded(backend, device):
    assert class_check_cases.attempts(backend, device) == json.loads(FIXTURE.read_text())
