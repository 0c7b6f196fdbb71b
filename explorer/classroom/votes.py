"""Predict, then see: the teacher's questions, the students' answers, vote–discuss–revote.

The routine (peer instruction, Crouch & Mazur 2001): the teacher asks a question tied to the
next push (multiple choice, or a number), each student answers on their own page, the
answers lock when the teacher starts the push, the teacher reveals the distribution (hidden
from the projector until then), the run's outcome is noted beside it, and after discussion
the class votes again: both rounds and who changed are kept. :func:`record_csv` gives the
lesson's record.

Stored in the class's SQLite file (tables ``questions`` and ``answers``), every value as
JSON text or plain text: nothing is ever unpickled.
"""
from __future__ import annotations

import csv
import io
import json
import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace

from .classes import Classroom, Klass
from .model import ClassroomError

KINDS = ("choice", "number")
STATES = ("open", "locked")
MAX_OPTIONS = 8
MAX_TEXT = 300

#: ready questions, per preset (the Train page's presets) and for a β or latent ladder
READY: dict[str, list[dict]] = {
    "2-minute MNIST": [
        {"text": "After two minutes, how many of the 10 digit classes stay apart in the 2-D latent scatter?",
         "kind": "number"},
        {"text": "What will a sample from the prior (z from N(0, I)) look like?", "kind": "choice",
         "options": ["a sharp digit", "a blurry but readable digit", "grey noise", "the average of all digits"]},
        {"text": "Will the validation reconstruction end above or below the training one?", "kind": "choice",
         "options": ["above (worse)", "below (better)", "about the same"]},
    ],
    "collapse demo": [
        {"text": "With β = 12, what happens to the KL term?", "kind": "choice",
         "options": ["it grows", "it falls to about 0", "it stays where it starts"]},
        {"text": "What will every reconstruction look like at β = 12?", "kind": "choice",
         "options": ["sharp digits", "the same average image", "noise"]},
        {"text": "How many nats of KL will the run end with?", "kind": "number"},
    ],
    "overfit demo": [
        {"text": "On 150 images with β = 0, what will the validation curve do?", "kind": "choice",
         "options": ["follow the training curve down", "flatten, then rise", "stay flat"]},
        {"text": "At which epoch will the validation curve turn up?", "kind": "number"},
        {"text": "Would a larger β help the validation curve?", "kind": "choice",
         "options": ["yes", "no", "it depends on how large"]},
    ],
    "AE vs VAE": [
        {"text": "Whose codes stay inside the prior's circles?", "kind": "choice",
         "options": ["the autoencoder's", "the VAE's", "both", "neither"]},
        {"text": "Whose prior samples look like digits?", "kind": "choice",
         "options": ["the autoencoder's", "the VAE's", "both", "neither"]},
        {"text": "Which reconstructs the training images better?", "kind": "choice",
         "options": ["the autoencoder", "the VAE", "about the same"]},
    ],
    "β ladder": [
        {"text": "Which β gives the sharpest reconstructions?", "kind": "choice",
         "options": ["0", "0.5", "1", "4", "8"]},
        {"text": "What happens to the samples at β = 8?", "kind": "choice",
         "options": ["sharper", "blurrier", "all alike (collapse)", "no change"]},
        {"text": "At β = 4, how many of the 10 digit classes stay apart?", "kind": "number"},
    ],
    "latent ladder": [
        {"text": "Which latent size reconstructs best?", "kind": "choice", "options": ["2", "8", "16"]},
        {"text": "Does more latent dimensions raise or lower the KL?", "kind": "choice",
         "options": ["raise", "lower", "no change"]},
        {"text": "How many nats of KL will the 16-dimensional model end with?", "kind": "number"},
    ],
}


@dataclass(frozen=True)
class Question:
    code: str
    qid: int
    text: str
    kind: str = "choice"
    options: list = field(default_factory=list)
    round: int = 1
    state: str = "open"
    revealed: bool = False
    outcome: str = ""
    created: float = 0.0

    @property
    def is_open(self) -> bool:
        return self.state == "open"


def _body(q: Question) -> str:
    d = asdict(q)
    for k in ("code", "qid", "created"):
        d.pop(k)
    return json.dumps(d)


def _save(room: Classroom, q: Question) -> Question:
    with room._tx() as db:
        db.execute("UPDATE questions SET body = ? WHERE code = ? AND qid = ?", (_body(q), q.code, q.qid))
    return q


def checked(text: str, kind: str, options=()) -> tuple[str, str, list]:
    """A question's text, kind and options, validated (each refusal says what to change)."""
    text = " ".join(str(text or "").split())[:MAX_TEXT]
    if not text:
        raise ClassroomError("type the question the class will answer")
    if kind not in KINDS:
        raise ClassroomError(f"a question is one of {', '.join(KINDS)}, not {kind!r}")
    opts = []
    for o in options or ():
        o = " ".join(str(o).split())[:80]
        if o and o not in opts:
            opts.append(o)
    if kind == "choice" and not 2 <= len(opts) <= MAX_OPTIONS:
        raise ClassroomError(f"a multiple-choice question needs 2 to {MAX_OPTIONS} different options "
                             f"(one per line), got {len(opts)}")
    return text, kind, opts if kind == "choice" else []


def ask(room: Classroom, code: str, text: str, kind: str = "choice", options=()) -> Question:
    """Pose a new question (it becomes the class's current one, open for answers); following
    students' pages open the Class page to answer it."""
    text, kind, opts = checked(text, kind, options)
    now = time.time()
    with room._tx() as db:
        (qid,) = db.execute("SELECT COALESCE(MAX(qid), 0) + 1 FROM questions WHERE code = ?", (code,)).fetchone()
        q = Question(code, qid, text, kind, opts, created=now)
        db.execute("INSERT INTO questions VALUES (?, ?, ?, ?)", (code, qid, _body(q), now))
    room.push(code, "question", {"qid": qid})
    return q


def get(room: Classroom, code: str, qid: int) -> Question | None:
    rows = room._read("SELECT qid, body, created FROM questions WHERE code = ? AND qid = ?", (code, qid))
    return _of(code, rows[0]) if rows else None


def _of(code: str, row) -> Question:
    qid, body, created = row
    return Question(code=code, qid=qid, created=created, **json.loads(body))


def current(room: Classroom, code: str) -> Question | None:
    """The class's newest question, or None."""
    rows = room._read("SELECT qid, body, created FROM questions WHERE code = ? ORDER BY qid DESC LIMIT 1", (code,))
    return _of(code, rows[0]) if rows else None


def questions(room: Classroom, code: str) -> list[Question]:
    return [_of(code, r) for r in room._read("SELECT qid, body, created FROM questions WHERE code = ? "
                                             "ORDER BY qid", (code,))]


def answer(room: Classroom, klass: Klass, qid: int, owner: str, value) -> str:
    """A student's answer to the current round (a new one replaces theirs); refused once the
    answers are locked. Returns the answer as stored."""
    q = get(room, klass.code, qid)
    if q is None:
        raise ClassroomError("that question is gone: your teacher asked a new one")
    if not q.is_open:
        raise ClassroomError("the answers are locked: your teacher has started the run")
    if owner not in {m.owner for m in room.members(klass.code)}:
        raise ClassroomError("only the class's students answer its questions")
    if q.kind == "choice":
        value = str(value)
        if value not in q.options:
            raise ClassroomError(f"pick one of the options: {', '.join(q.options)}")
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ClassroomError(f"this question takes a number, not {value!r}") from None
        if not math.isfinite(number):
            raise ClassroomError("this question takes a finite number")
        value = f"{number:g}"
    with room._tx() as db:
        db.execute("INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (code, qid, round, owner) "
                   "DO UPDATE SET answer = excluded.answer, at = excluded.at",
                   (klass.code, qid, q.round, owner, value, time.time()))
    return value


def my_answer(room: Classroom, code: str, qid: int, owner: str, rnd: int) -> str | None:
    rows = room._read("SELECT answer FROM answers WHERE code = ? AND qid = ? AND round = ? AND owner = ?",
                      (code, qid, rnd, owner))
    return rows[0][0] if rows else None


def answers(room: Classroom, code: str, qid: int, rnd: int) -> dict[str, str]:
    """owner -> answer, for one round."""
    return dict(room._read("SELECT owner, answer FROM answers WHERE code = ? AND qid = ? AND round = ?",
                           (code, qid, rnd)))


def lock(room: Classroom, code: str, qid: int) -> Question:
    """No more answers this round (the teacher starts the push)."""
    return _save(room, replace(get(room, code, qid), state="locked"))


def reveal(room: Classroom, code: str, qid: int, shown: bool = True) -> Question:
    """Show (or hide again) the distribution on the dashboard and the projector."""
    return _save(room, replace(get(room, code, qid), revealed=bool(shown)))


def note_outcome(room: Classroom, code: str, qid: int, outcome: str) -> Question:
    """What the run showed, kept beside the answers."""
    return _save(room, replace(get(room, code, qid), outcome=" ".join(str(outcome or "").split())[:MAX_TEXT]))


def revote(room: Classroom, code: str, qid: int) -> Question:
    """After discussion: a second round, open, hidden until revealed (the first is kept)."""
    q = get(room, code, qid)
    if q.round >= 2:
        raise ClassroomError("this question has had its second vote: ask a new one")
    return _save(room, replace(q, round=2, state="open", revealed=False))


def tally(room: Classroom, q: Question, rnd: int | None = None) -> dict:
    """The distribution of one round: ``counts`` {option: n} (every option, in order) for a
    choice, or ``values`` (sorted) with ``median``, ``low``/``high`` quartiles for a number;
    ``n`` answers in all."""
    got = list(answers(room, q.code, q.qid, rnd or q.round).values())
    if q.kind == "choice":
        c = Counter(got)
        return {"n": len(got), "counts": {o: c.get(o, 0) for o in q.options}}
    vals = sorted(float(v) for v in got)
    out = {"n": len(vals), "values": vals}
    if vals:
        out.update(median=_quantile(vals, 0.5), low=_quantile(vals, 0.25), high=_quantile(vals, 0.75))
    return out


def _quantile(vals: list[float], p: float) -> float:
    i = p * (len(vals) - 1)
    lo = math.floor(i)
    return vals[lo] + (vals[min(lo + 1, len(vals) - 1)] - vals[lo]) * (i - lo)


def changes(room: Classroom, q: Question) -> dict:
    """Between the two rounds: ``both`` students answered twice, ``changed`` of them changed,
    ``moves`` {(first, second): n} for those who changed."""
    a, b = answers(room, q.code, q.qid, 1), answers(room, q.code, q.qid, 2)
    both = [o for o in a if o in b]
    moves = Counter((a[o], b[o]) for o in both if a[o] != b[o])
    return {"both": len(both), "changed": sum(moves.values()), "moves": dict(moves)}


def who_answered(room: Classroom, code: str, qid: int, value: str, rnd: int | None = None) -> list[str]:
    """The students whose answer (latest round by default) was ``value``: a push's group."""
    q = get(room, code, qid)
    if q is None:
        return []
    return [o for o, v in answers(room, code, qid, rnd or q.round).items() if v == str(value)]


def record_csv(room: Classroom, klass: Klass) -> str:
    """The lesson's record: one row per question and student (answers before and after the
    discussion, changed or not, the outcome noted), as CSV text."""
    names = {m.owner: m.name for m in room.members(klass.code)}
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["question", "kind", "options", "student", "answer (first vote)", "answer (second vote)",
                "changed", "outcome"])
    for q in questions(room, klass.code):
        a, b = answers(room, q.code, q.qid, 1), answers(room, q.code, q.qid, 2)
        for owner in sorted(set(a) | set(b), key=lambda o: names.get(o, o)):
            first, second = a.get(owner, ""), b.get(owner, "")
            w.writerow([q.text, q.kind, " | ".join(q.options), names.get(owner, "(left the class)"), first,
                        second, "yes" if first and second and first != second else "", q.outcome])
        if not a and not b:
            w.writerow([q.text, q.kind, " | ".join(q.options), "", "", "", "", q.outcome])
    return out.getvalue()
