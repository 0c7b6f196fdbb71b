"""A class's vocabulary (plain data, no storage): its settings and their ranges, the class,
a member, a push, the join code's spelling, and the error every refusal raises."""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from ..config import DATASETS_IMAGE, DATASETS_TOY

#: every class setting's range, used by the Class page's widgets and by ClassSettings.checked
SETTING_LIMITS = {"max_runs": (1, 200), "max_run_seconds": (5.0, 3600.0)}
SETTING_LABELS = {"locked": "lock hyperparameters", "dataset": "dataset",
                  "max_runs": "runs per student", "max_run_seconds": "run time per run (s)",
                  "see_others": "students see each other's runs"}


class ClassroomError(ValueError):
    """A request about a class that cannot be carried out (unknown code, closed, not allowed)."""


@dataclass(frozen=True)
class ClassSettings:
    """What the teacher controls. ``dataset`` "" leaves the dataset open."""
    locked: bool = False
    dataset: str = ""
    max_runs: int = 20
    max_run_seconds: float = 300.0
    see_others: bool = True
    teacher_control: bool = False   # the teacher controls the students' class runs, from any of their tabs

    def checked(self) -> "ClassSettings":
        """A validated copy; a value out of range raises :class:`ClassroomError` naming it."""
        for name, (lo, hi) in SETTING_LIMITS.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
                raise ClassroomError(f"the class setting “{SETTING_LABELS[name]}” must lie in "
                                     f"[{lo:g}, {hi:g}], not {v!r}")
        known = tuple(DATASETS_IMAGE) + tuple(DATASETS_TOY)
        if self.dataset and self.dataset not in known:
            raise ClassroomError(f"the class setting “dataset” must be one of {', '.join(known)} "
                                 f"(or empty for any), not {self.dataset!r}")
        return replace(self, max_runs=int(self.max_runs), max_run_seconds=float(self.max_run_seconds),
                       locked=bool(self.locked), see_others=bool(self.see_others),
                       teacher_control=bool(self.teacher_control))

    @classmethod
    def from_dict(cls, d: dict) -> "ClassSettings":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in names}).checked()


@dataclass(frozen=True)
class Klass:
    code: str
    name: str
    teacher: str                 # the creator's owner id
    teacher_name: str
    created: float
    closed: bool
    settings: ClassSettings = field(default_factory=ClassSettings)

    @property
    def link(self) -> str:
        return f"?class={self.code}"

    @property
    def shown_code(self) -> str:
        """The code as people read it: ``ABCD-EFGH``."""
        return format_code(self.code)


@dataclass(frozen=True)
class Member:
    code: str
    owner: str
    name: str
    joined: float


@dataclass(frozen=True)
class Push:
    code: str
    version: int
    kind: str                    # "config" | "view"
    payload: dict
    created: float


def normalise_code(code: str | None) -> str:
    return "".join(ch for ch in str(code or "").upper() if ch.isalnum())[:32]


def format_code(code: str) -> str:
    """``ABCDEFGH`` -> ``ABCD-EFGH`` (older four-letter codes as they are)."""
    return f"{code[:4]}-{code[4:]}" if len(code) > 4 else code


