"""The installed ``kennel`` console script and what a run of it gives back."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

KENNEL = Path(sys.executable).with_name("kennel")


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)
