"""Study files (TOML) -> a validated ``Study`` -> cells (problem x surrogate x seed) as ``RunSpec``s.

A study file::

    name = "demo"
    seeds = 3                       # a count (0, 1, 2) or a list of seeds
    acquisition = "default"         # or "paper"

    [problems.branin]               # the label; `problem = "..."` names the registry entry if it differs
    n_init = 5                      # budget keys default to the problem's study budget
    q = 1
    iterations = 10
    options = {}                    # problem options, e.g. { dim = 10 }

    [surrogates.gp]                 # the label; `surrogate = "..."` names the registry entry if it differs
    settings = { priors = "paper" } # overrides of the surrogate's settings (or preset = "paper:branin")

Validation collects every problem of a file and reports them together (``StudyError.problems``).
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bnnbo._compat import tomllib
from bnnbo.acquisition import MODES, OPTIMIZER_PRESETS
from bnnbo.errors import BnnboError, ConfigError
from bnnbo.limits import MAX_BUDGET, MAX_CELLS, MAX_LABEL, MAX_N_INIT, MAX_Q, MAX_SEED, MAX_SEEDS

STUDY_KEYS = ("name", "description", "seeds", "acquisition", "acq_optimizer", "problems", "surrogates")
PROBLEM_KEYS = ("problem", "n_init", "q", "iterations", "options")
SURROGATE_KEYS = ("surrogate", "settings")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class StudyError(ConfigError):
    """A study file is invalid; ``problems`` lists every problem found, one line each."""

    def __init__(self, source: str, problems: list[str]):
        self.source, self.problems = source, problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the study file:\n{lines}")


def _normal(value: Any) -> Any:
    """JSON-normal form (tuples -> lists), so specs compare equal after a store round trip."""
    return json.loads(json.dumps(value))


@dataclass(frozen=True)
class RunSpec:
    """Everything a run needs: one cell of a study. Picklable; sent to workers as is."""

    study: str
    problem: str  # label in the study file
    problem_name: str  # registry name
    surrogate: str  # label in the study file
    surrogate_name: str  # registry name
    seed: int
    n_init: int
    q: int
    iterations: int
    acquisition: str = "default"
    acq_optimizer: str | None = None
    problem_options: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # overrides as written
    resolved_settings: dict[str, Any] = field(default_factory=dict)  # every field, after presets
    problem_identity: dict[str, str] = field(default_factory=dict)  # Problem.identity(), e.g. a file's hash

    @property
    def budget(self) -> int:
        return self.n_init + self.q * self.iterations

    def config(self) -> dict[str, Any]:
        """What must not change under the same (problem, surrogate, seed) labels.

        ``iterations`` is left out on purpose: raising it extends finished runs, and since
        every ask depends only on (seed, evaluations so far) the extension equals a longer run.
        """
        config = {
            "problem": self.problem_name,
            "problem_options": self.problem_options,
            "surrogate": self.surrogate_name,
            "settings": self.resolved_settings,
            "n_init": self.n_init,
            "q": self.q,
            "acquisition": self.acquisition,
            "acq_optimizer": self.acq_optimizer,
        }
        if self.problem_identity:  # absent where the options say it all, as in runs stored before it
            config["problem_identity"] = self.problem_identity
        return _normal(config)

    def comparable(self) -> dict[str, Any]:
        """``config()`` without settings left at None ("as the library decides") or at the value a
        later-added setting declares as its behaviour before it existed (``Settings.added``):
        such a setting is absent from a run stored before it and neutral in the study, the same."""
        from bnnbo.surrogates import SURROGATES, surrogate_class

        config = self.config()
        added = surrogate_class(self.surrogate_name).Settings.added if self.surrogate_name in SURROGATES else {}
        settings = {k: v for k, v in config["settings"].items() if v is not None and added.get(k, _ABSENT) != v}
        return {**config, "settings": settings}


_ABSENT = object()


@dataclass(frozen=True)
class Study:
    name: str
    seeds: tuple[int, ...]
    problems: tuple[dict[str, Any], ...]  # label, problem_name, options, n_init, q, iterations
    surrogates: tuple[dict[str, Any], ...]  # label, surrogate_name, settings, resolved_settings
    acquisition: str = "default"
    acq_optimizer: str | None = None
    description: str = ""
    source: str = ""  # the file's text, kept with the study in the store

    def cells(self) -> list[RunSpec]:
        """Problem-major, then seed, then surrogate: a partial study compares surrogates early."""
        return [
            RunSpec(
                study=self.name,
                problem=p["label"],
                problem_name=p["problem_name"],
                surrogate=s["label"],
                surrogate_name=s["surrogate_name"],
                seed=seed,
                n_init=p["n_init"],
                q=p["q"],
                iterations=p["iterations"],
                acquisition=self.acquisition,
                acq_optimizer=self.acq_optimizer,
                problem_options=dict(p["options"]),
                settings=dict(s["settings"]),
                resolved_settings=dict(s["resolved_settings"]),
                problem_identity=dict(p.get("identity", {})),
            )
            for p in self.problems
            for seed in self.seeds
            for s in self.surrogates
        ]


def load_study(path: str | Path) -> Study:
    """Read and validate a study file; raise StudyError listing every problem found."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read study file {str(path)!r}: {exc.strerror}") from None
    if data.startswith(b"SQLite format 3\x00"):
        raise ConfigError(
            f"{str(path)!r} is a SQLite database (a bnnbo store?), not a study file; "
            "the study file comes first: bnnbo run STUDY.toml --db STORE"
        )
    try:
        text = data.decode("utf-8-sig")  # editors on Windows may write a byte-order mark
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"study file {str(path)!r} is not UTF-8 text (byte {exc.start} is "
            f"{data[exc.start : exc.start + 1]!r}); expected a TOML file saved as UTF-8"
        ) from None
    return parse_study(text, source=str(path))


def parse_study(text: str, source: str = "<study>") -> Study:
    text = text.removeprefix("\ufeff")  # a UTF-8 byte-order mark decoded as text
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StudyError(source, [f"not valid TOML: {exc}"]) from None
    errors: list[str] = []
    _unknown_keys(raw, STUDY_KEYS, "top level", errors)
    name = _label(raw.get("name"), "name", errors, required=True)
    seeds = _seeds(raw.get("seeds"), errors)
    acquisition = raw.get("acquisition", "default")
    if acquisition not in MODES:
        errors.append(f"acquisition = {acquisition!r}; expected one of: {', '.join(MODES)}")
    acq_opt = raw.get("acq_optimizer")
    if acq_opt is not None and acq_opt not in OPTIMIZER_PRESETS:
        errors.append(f"acq_optimizer = {acq_opt!r}; expected one of: {', '.join(OPTIMIZER_PRESETS)}")
    problems = _entries(raw, "problems", PROBLEM_KEYS, _problem_entry, errors)
    surrogates = _entries(raw, "surrogates", SURROGATE_KEYS, _surrogate_entry, errors)
    description = raw.get("description", "")
    if not isinstance(description, str):
        errors.append(f"description = {description!r}; expected a string")
    n_cells = len(problems) * len(seeds) * len(surrogates)
    if n_cells > MAX_CELLS:
        errors.append(
            f"{len(problems)} problem(s) x {len(seeds)} seed(s) x {len(surrogates)} surrogate(s) "
            f"= {n_cells} runs; expected at most {MAX_CELLS} in one study"
        )
    elif acquisition in MODES:
        _check_pairs(problems, surrogates, acquisition, errors)
    if errors:
        raise StudyError(source, errors)
    return Study(
        name=name,
        seeds=seeds,
        problems=tuple(problems),
        surrogates=tuple(surrogates),
        acquisition=acquisition,
        acq_optimizer=acq_opt,
        description=description,
        source=text,
    )


# ---- pieces -------------------------------------------------------------------------------------
def _check_pairs(problems: list[dict], surrogates: list[dict], mode: str, errors: list[str]) -> None:
    """Settings a surrogate accepts alone but the loop refuses for a problem's q or objectives
    (e.g. ``auto``'s hedge at q > 1): one error per pair, at load, not when the run starts."""
    from bnnbo.optimizer import check_loop_settings
    from bnnbo.problems import problem_info
    from bnnbo.surrogates import get_surrogate

    built = [(s["label"], get_surrogate(s["surrogate_name"], **s["settings"])) for s in surrogates]
    for p in problems:
        m = problem_info(p["problem_name"], **p["options"]).num_objectives
        for label, surrogate in built:
            try:
                check_loop_settings(surrogate, p["q"], m, mode)
            except BnnboError as exc:
                errors.append(f"[problems.{p['label']}] x [surrogates.{label}]: {exc}")


def _unknown_keys(table: dict, allowed: tuple[str, ...], where: str, errors: list[str]) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            errors.append(f"{where}: unknown key {key!r}{hint}; allowed: {', '.join(allowed)}")


def _label(value: Any, what: str, errors: list[str], required: bool = False) -> str:
    if value is None:
        if required:
            errors.append(f"{what} is missing; expected a string")
        return ""
    if not isinstance(value, str) or not _LABEL.match(value):
        errors.append(f"{what} = {value!r}; expected a non-empty string of letters, digits, '_', '.', '+', '-'")
        return ""
    if len(value) > MAX_LABEL:
        errors.append(f"{what} = {_short(value)} has {len(value)} characters; expected at most {MAX_LABEL}")
        return ""
    return value


def _short(value: str) -> str:
    return repr(value) if len(value) <= 40 else repr(value[:30] + "...")


def _int(value: Any, where: str, minimum: int, errors: list[str], maximum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        errors.append(f"{where} = {value!r}; expected an integer >= {minimum}")
        return minimum
    if maximum is not None and value > maximum:
        errors.append(f"{where} = {value!r} is too large; expected at most {maximum}")
        return minimum
    return value


def _seeds(value: Any, errors: list[str]) -> tuple[int, ...]:
    if value is None:
        errors.append("seeds is missing; expected a count (e.g. seeds = 5) or a list of integers")
        return ()
    if isinstance(value, int) and not isinstance(value, bool):
        return tuple(range(_int(value, "seeds", 1, errors, MAX_SEEDS)))
    if not isinstance(value, list) or not value:
        errors.append(f"seeds = {value!r}; expected a count >= 1 or a non-empty list of integers")
        return ()
    n_errors = len(errors)
    if len(value) > MAX_SEEDS:
        errors.append(f"seeds: {len(value)} seeds; expected at most {MAX_SEEDS}")
        return ()
    # the store keeps seeds in 32-bit integer columns
    seeds = tuple(_int(v, f"seeds[{i}]", 0, errors, MAX_SEED) for i, v in enumerate(value))
    if len(errors) == n_errors and len(set(seeds)) != len(seeds):
        errors.append(f"seeds = {value!r}; expected each seed once")
    return seeds


def _entries(raw: dict, key: str, allowed: tuple[str, ...], build, errors: list[str]) -> list[dict]:
    tables = raw.get(key)
    if not isinstance(tables, dict) or not tables:
        errors.append(f"[{key}] is missing or empty; expected at least one [{key}.<label>] table")
        return []
    out = []
    for label, table in tables.items():
        where = f"[{key}.{label}]"
        if not _LABEL.match(label):
            errors.append(f"{where}: label {label!r} must use letters, digits, '_', '.', '+', '-'")
        elif len(label) > MAX_LABEL:
            errors.append(
                f"[{key}.{_short(label)[1:-1]}]: label has {len(label)} characters; expected at most {MAX_LABEL}"
            )
        if not isinstance(table, dict):
            errors.append(f"{where}: expected a table, got {table!r}")
            continue
        _unknown_keys(table, allowed, where, errors)
        entry = build(label, table, where, errors)
        if entry is not None:
            out.append(entry)
    return out


def _name_and_table(
    table: dict, kind: str, field: str, label: str, where: str, errors: list[str]
) -> tuple[str, dict] | None:
    """``(registered name, its table of options/settings)`` of an entry, or None after an error."""
    name = table.get(kind, label)
    if not isinstance(name, str):
        errors.append(f"{where} {kind} = {name!r}; expected a registered {kind} name (a string)")
        return None
    sub = table.get(field, {})
    if not isinstance(sub, dict):
        errors.append(f"{where} {field} = {sub!r}; expected a table of {kind} {field}")
        return None
    return name, sub


def _problem_entry(label: str, table: dict, where: str, errors: list[str]) -> dict | None:
    from bnnbo.problems import problem_info

    named = _name_and_table(table, "problem", "options", label, where, errors)
    if named is None:
        return None
    name, options = named
    try:
        info = problem_info(name, **options)
    except BnnboError as exc:
        errors.append(f"{where}: {exc}")
        return None
    budget = info.paper_budget or {}
    out = {"label": label, "problem_name": name, "options": _normal(options)}
    if info.identity:
        out["identity"] = dict(info.identity)
    for key, minimum, maximum in (("n_init", 2, MAX_N_INIT), ("q", 1, MAX_Q), ("iterations", 0, MAX_BUDGET)):
        if key in table or key not in budget:
            value = table.get(key)
            if value is None:
                errors.append(
                    f"{where} {key} is missing (problem {name!r} has no study budget); expected an integer >= {minimum}"
                )
            out[key] = _int(value, f"{where} {key}", minimum, errors, maximum) if value is not None else minimum
        else:
            out[key] = budget[key]
    total = out["n_init"] + out["q"] * out["iterations"]
    if total > MAX_BUDGET:
        errors.append(f"{where}: n_init + q x iterations = {total} evaluations; expected at most {MAX_BUDGET}")
    return out


def _surrogate_entry(label: str, table: dict, where: str, errors: list[str]) -> dict | None:
    from bnnbo.surrogates import get_surrogate

    named = _name_and_table(table, "surrogate", "settings", label, where, errors)
    if named is None:
        return None
    name, settings = named
    try:
        resolved = get_surrogate(name, **settings).settings.to_dict()
    except BnnboError as exc:
        errors.append(f"{where}: {exc}")
        return None
    return {
        "label": label,
        "surrogate_name": name,
        "settings": _normal(settings),
        "resolved_settings": _normal(resolved),
    }
