"""What decides a yes/no question, as numbers: negation, null results, hedging and the direction of the effect
in the deciding sentences, read against the question's own words. The weights that turn these into a verdict
are fitted on labelled questions (calibration/verdict.json, written by assistant/answer/judge/train.py)."""

from __future__ import annotations

import re

from assistant.text import STOPWORDS

_NEG = re.compile(
    r"\b(?:no|not|nor|neither|none|never|cannot|fail(?:s|ed)?\s+to|lack(?:s|ed|ing)?|absence|absent|unlikely"
    r"|insufficient\w*|unrelated|without)\b|n't\b",
    re.I,
)
_NOT_ONLY = re.compile(r"\bnot\s+only\b|\bno\s+longer\b|\bnot\s+(?:inferior|worse)\b", re.I)
_NULL = re.compile(
    r"\bno\s+(?:\w+\s+)?(?:significant|statistically|clear|difference|differences|association|relationship|correlation|"
    r"effect|evidence|benefit|advantage|impact|improvement|change|role|value|predictive)\b"
    r"|\bnot\s+(?:\w+\s+)?(?:significantly|statistically|associated|related|correlated|different|differ|affect\w*|"
    r"improve\w*|increase\w*|reduce\w*|predict\w*|influence\w*|superior|useful|effective|necessary|required|reliable)\b"
    r"|\b(?:similar|comparable|equivalent|unchanged|unaffected|independent(?:ly)?\s+of|irrespective|regardless)\b",
    re.I,
)
_SAME_Q = re.compile(
    r"\b(?:same|similar|comparable|equivalent|equal|non-?inferior|as\s+(?:good|effective|safe|accurate|reliable)"
    r"|differ\w*|difference)\b",
    re.I,
)
_HEDGE = re.compile(
    r"\b(?:may|might|could|unclear|uncertain|inconclusive|controvers\w*|remains?\s+(?:to\s+be|unclear|unknown)"
    r"|further\s+(?:\w+\s+)?(?:studies|research|investigation|trials?|evaluation|work)|warrant\w*"
    r"|larger\s+(?:\w+\s+)?(?:studies|trials|samples?|series)|not\s+(?:yet\s+)?(?:clear|known|established)"
    r"|partial\w*|to\s+some\s+extent|not\s+always|not\s+necessarily|limited|depend\w*|some\s+(?:patients|cases)"
    r"|possibl\w*|potential\w*|appear\w*|seem\w*|suggest\w*)\b",
    re.I,
)
_POSITIVE = re.compile(
    r"\b(?:significant(?:ly)?|effective\w*|efficac\w*|safe|feasible|useful|beneficial|improv\w*|superior|better"
    r"|success\w*|reliable|accurate|valid|recommend\w*|should\s+be|strong\w*|predict\w*|associated\s+with"
    r"|correlat\w+\s+with|support\w*|confirm\w*|demonstrat\w*|indicat\w*)\b",
    re.I,
)
_UP = re.compile(r"\b(?:increas\w*|higher|more|greater|better|improv\w*|rais\w*|elevat\w*|enhanc\w*|longer)\b", re.I)
_DOWN = re.compile(r"\b(?:decreas\w*|lower|less|fewer|worse|reduc\w*|declin\w*|diminish\w*|shorter|impair\w*)\b", re.I)
_QNEG = re.compile(r"\b(?:not|no|without|never|fail\w*|lack\w*)\b|n't\b", re.I)
_NEG_PREFIX = ("un", "in", "im", "non", "ir", "dis", "il", "non-")
_WORD = re.compile(r"[a-z]+")

NAMES = [
    "bias",
    "neg_last",
    "neg_concl",
    "neg_decide",
    "null",
    "null_same",
    "negated_qterm",
    "hedge",
    "positive",
    "q_negated",
    "opposite_direction",
    "same_direction",
    "neg_claim",
    "null_claim",
    "hedge_claim",
    "negated_qterm_claim",
    "positive_claim",
    "compared_same",
    "compared_opposite",
    "states_question",
    "number_unstated",
]


def _count(pattern: re.Pattern[str], text: str) -> float:
    return float(len(pattern.findall(text)))


def _negations(text: str) -> float:
    return _count(_NEG, _NOT_ONLY.sub(" ", text))


def _question_words(question: str) -> list[str]:
    return [w for w in dict.fromkeys(_WORD.findall(question.lower())) if len(w) > 3 and w not in STOPWORDS]


def _root(word: str) -> str:
    """The part of a question word that its forms share ("adequate" -> "adequ"), as a regex, with the endings its
    forms can add: a few letters more than the word itself, so that "sign" finds "signs" and "signed" but not
    "significant" (which turned a sign-based optimizer's abstract into a negated "sign")."""
    root = word[: max(5, len(word) - 3)]
    return re.escape(root) + rf"\w{{0,{len(word) - len(root) + 3}}}\b"


def _mentions(word: str, low: str) -> bool:
    """Whether lower-cased text uses a form of the question word."""
    return re.search(r"\b" + _root(word), low) is not None


def _negated_terms(question: str, text: str) -> float:
    """Question words the conclusion negates: "inadequate" for "adequate", "not necessary", "lack of X"."""
    low = text.lower()
    hits = 0
    for w in _question_words(question):
        root = _root(w)
        if any(re.search(r"\b" + p + root, low) for p in _NEG_PREFIX) and not re.search(r"\b" + root, low):
            hits += 1
        elif re.search(r"\b(?:not|no|never|lack\w*\s+of|without)\s+(?:\w+\s+){0,2}" + root, low):
            hits += 1
    return float(hits)


_MORE = "higher|more|greater|larger|bigger|longer|better|increased"
_LESS = "lower|less|fewer|smaller|shorter|worse|reduced|decreased"
_COMPARED = re.compile(rf"\b(?P<cmp>{_MORE}|{_LESS})\s+(?P<what>(?:[a-z-]+\s+){{0,2}}[a-z-]+)", re.I)


def comparison_verdict(question: str, deciding: str) -> str | None:
    """ "yes" or "no" when the deciding sentence plainly compares the very thing the question compares: "requires
    a smaller learning rate than Adam" answers "Does Lion need a larger learning rate than Adam?" with no, whatever
    else in the sentence is larger ("the larger norm"). None when it does not, or negates or hedges it. Two
    features (compared_same, compared_opposite) whose weights are fitted with the others."""
    if _negations(deciding) or _count(_NULL, deciding) or _count(_HEDGE, deciding):
        return None
    m = _COMPARED.search(question)
    if not m:
        return None
    asked = [w for w in _question_words(m.group("what")) if not re.fullmatch(f"{_MORE}|{_LESS}", w)]
    if not asked:
        return None
    found = {_is_more(t.group("cmp")) for t in _COMPARED.finditer(deciding) if _mentions_any(asked, t.group("what"))}
    if len(found) != 1:
        return None  # not compared, or both ways
    return "yes" if found == {_is_more(m.group("cmp"))} else "no"


def _is_more(comparative: str) -> bool:
    return re.fullmatch(_MORE, comparative.lower()) is not None


def _mentions_any(words: list[str], text: str) -> bool:
    low = text.lower()
    return any(_mentions(w, low) for w in words)


def _direction(question: str, text: str) -> tuple[float, float]:
    q_up, q_down = bool(_UP.search(question)), bool(_DOWN.search(question))
    t_up, t_down = bool(_UP.search(text)), bool(_DOWN.search(text))
    if q_up == q_down:  # the question asks for no direction, or both
        return 0.0, 0.0
    opposite = (q_up and t_down and not t_up) or (q_down and t_up and not t_down)
    same = (q_up and t_up and not t_down) or (q_down and t_down and not t_up)
    return float(opposite), float(same)


def _content_words(question: str) -> list[str]:
    """The question's words without its names: a capitalised word after the first ("Lion", "Adam") says which
    paper or which baseline, and an abstract's closing limitation names the paper too."""
    words = re.findall(r"[\w-]+", question)
    return _question_words(" ".join(w for i, w in enumerate(words) if i == 0 or not w[:1].isupper()))


def speaks_to(question: str, sentence: str) -> bool:
    return _mentions_any(_content_words(question), sentence)


# A sentence that sets out what was asked or what others thought, rather than a finding: "The aim of this study
# was to determine if ...", "It has been suggested that ...".
_NOT_A_FINDING = re.compile(
    r"\b(?:aim(?:s|ed)?|objectives?|purpose|goals?|to\s+(?:determine|assess|evaluate|investigate|examine|compare|test)"
    r"|whether|hypothes\w*|question)\b",
    re.I,
)


def conclusion_for(question: str, deciding: str, ending: list[str]) -> list[str]:
    """The sentences whose cues decide: the abstract's closing ones, unless none of them speaks to the question and
    the deciding sentence does, as a finding. An abstract can end on a limitation about something else
    ("improvements are small or not statistically significant"), which says nothing of whether its update uses
    the sign operation."""
    if not ending or any(speaks_to(question, s) for s in ending) or not speaks_to(question, deciding):
        return ending
    if _count(_HEDGE, deciding) or _NOT_A_FINDING.search(deciding):
        return ending
    return [deciding]


def claim_sentence(question: str, sentences: list[str]) -> str:
    """The closing sentence that speaks to the question (most of its words): an abstract often ends on a limitation
    or an outlook ("further studies are needed"), and the conclusion is the sentence before it."""
    words = _question_words(question)

    def overlap(sentence: str) -> int:
        low = sentence.lower()
        return sum(1 for w in words if _mentions(w, low))

    return max(sentences, key=overlap) if sentences else ""


def features(question: str, deciding: str, conclusion: list[str]) -> list[float]:
    """One row of NAMES for a question, its deciding sentence and the paper's closing sentences."""
    last = conclusion[-1] if conclusion else deciding
    claim = claim_sentence(question, conclusion or [deciding])
    concl = " ".join(conclusion) or deciding
    null = _count(_NULL, concl)
    opposite, same = _direction(question, concl)
    compared = comparison_verdict(question, deciding)
    return [
        1.0,
        min(_negations(last), 3.0),
        min(_negations(concl), 4.0),
        min(_negations(deciding), 3.0),
        min(null, 3.0),
        min(null, 3.0) * float(bool(_SAME_Q.search(question))),
        min(_negated_terms(question, concl), 3.0),
        min(_count(_HEDGE, concl), 4.0),
        min(_count(_POSITIVE, concl), 4.0),
        float(bool(_QNEG.search(question))),
        opposite,
        same,
        min(_negations(claim), 3.0),
        min(_count(_NULL, claim), 3.0),
        min(_count(_HEDGE, claim), 3.0),
        min(_negated_terms(question, claim), 3.0),
        min(_count(_POSITIVE, claim), 3.0),
        float(compared == "yes"),
        float(compared == "no"),
        _stated_share(question, deciding),
        _numbers_unstated(question, " ".join([deciding, *conclusion])),
    ]


_NUM = re.compile(r"\d+(?:[.,]\d+)?")


def _stated_share(question: str, deciding: str) -> float:
    """How much of the question's content the deciding sentence states: a sentence that says what is asked
    supports it; one that shares little with it is about something else (and leaves it open)."""
    words = _content_words(question)
    low = deciding.lower()
    return sum(_mentions(w, low) for w in words) / len(words) if words else 0.0


def _numbers_unstated(question: str, text: str) -> float:
    """A number the question gives that the deciding sentences never write: "does it use 500 examples?" of an
    abstract that says 817 asks about a figure the paper does not report."""
    asked = set(_NUM.findall(question))
    return float(bool(asked) and not asked & set(_NUM.findall(text)))
