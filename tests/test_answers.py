"""The answer matrix reaches every value of every question, and copier refuses what it must."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from copier.errors import CopierError

from .support import QUESTIONS, Render, answers
from .support.answers import ROWS, Row, names, rows

ASKED = {
    name: question
    for name, question in QUESTIONS.items()
    if not name.startswith("_") and isinstance(question, dict) and question.get("when") is not False
}
PACKAGE_LIST = "debian_packages("
# A free-text length limit, as a validator gives it to a check of includes/validators.jinja.
LIMIT = re.compile(r"at_most=(\d+|name_max_length)\b")
JINJA = jinja2.Environment()


def kind(question: dict[str, Any]) -> str:
    """The question's type: as given, or its default's (copier infers it the same way)."""
    if "type" in question:
        return str(question["type"])
    default = question.get("default")
    return {bool: "bool", int: "int"}.get(type(default), "str")


def choice_values(choices: Any) -> list[Any]:
    """A question's choices: a list, a mapping of labels to values, or Jinja that renders
    `label: value` lines (services, from the backing-services catalogue)."""
    if isinstance(choices, str):
        catalogue = QUESTIONS["service_catalogue"]["default"]
        choices = yaml.safe_load(JINJA.from_string(choices).render(service_catalogue=catalogue))
    return list(choices.values() if isinstance(choices, dict) else choices)


def expected_values(name: str, question: dict[str, Any]) -> set[Any]:
    """What a question can be answered, in classes: every choice (every set of a multiselect),
    both bools, an int's default and bounds, free text as defaulted, given and at its longest,
    a package list empty, with one and with several packages."""
    choices = question.get("choices")
    validator = str(question.get("validator", ""))
    if choices is not None:
        values = choice_values(choices)
        if question.get("multiselect"):
            subsets = (itertools.combinations(values, n) for n in range(len(values) + 1))
            return {frozenset(subset) for subset in itertools.chain.from_iterable(subsets)}
        return set(values)
    if kind(question) == "bool":
        return {True, False}
    if kind(question) == "int":
        low, high = re.findall(rf"{name} [<>] (\d+)", validator)
        return {"default", int(low), int(high)}
    if PACKAGE_LIST in validator:
        return {"none", "one", "several"}
    longest = "longest" if LIMIT.search(validator) else None
    return {"default", "given"} | ({longest} if longest else set())


def limit(validator: str) -> int:
    found = LIMIT.search(validator)
    assert found, validator
    return int(found[1]) if found[1].isdigit() else int(QUESTIONS[found[1]]["default"])


def reached_value(
    name: str, question: dict[str, Any], given: dict[str, Any], context: dict[str, Any]
) -> Any:
    """The class of the value a row answers (given, or by default in that context)."""
    default = question.get("default")
    if isinstance(default, str) and "{" in default and name not in given:
        if kind(question) != "bool":
            return "default"
        return yaml.safe_load(JINJA.from_string(default).render(**context))
    value = given.get(name, default)
    if question.get("multiselect"):
        return frozenset(value or ())
    if question.get("choices") is not None or kind(question) == "bool":
        return value
    validator = str(question.get("validator", ""))
    if kind(question) == "int":
        return value if name in given and value != default else "default"
    if PACKAGE_LIST in validator:
        return {0: "none", 1: "one"}.get(len(str(value).split()), "several")
    if value == default:
        return "default"
    if LIMIT.search(validator) and len(str(value)) == limit(validator):
        return "longest"
    return "given"


def context_of(entry: Row) -> dict[str, Any]:
    """The row's answers over copier.yml's plain defaults: what `when` conditions read."""
    plain = {
        name: question.get("default")
        for name, question in ASKED.items()
        if not (isinstance(question.get("default"), str) and "{" in question["default"])
    }
    return {**plain, **answers(entry.name)}


def reached() -> dict[str, set[Any]]:
    found: dict[str, set[Any]] = {name: set() for name in ASKED}
    for entry in ROWS:
        if "refused" in entry.tags:
            continue
        context = context_of(entry)
        for name, question in ASKED.items():
            when = question.get("when", True)
            if isinstance(when, str) and JINJA.from_string(when).render(**context) != "True":
                continue
            found[name].add(reached_value(name, question, answers(entry.name), context))
    return found


def test_the_matrix_reaches_every_value_of_every_question() -> None:
    found = reached()
    missing = [
        f"{name}={value!r}"
        for name, question in ASKED.items()
        for value in sorted(expected_values(name, question) - found[name], key=repr)
    ]
    assert not missing, f"no row of tests/support/answers.py answers {', '.join(missing)}"


def test_the_coverage_check_sees_a_value_no_row_reaches() -> None:
    """The check is not vacuous: a question with a choice no row answers is reported."""
    question = {"type": "str", "choices": ["a", "b"], "default": "a"}
    assert expected_values("made_up", question) - {reached_value("made_up", question, {}, {})} == {
        "b"
    }
    found = reached()
    assert found["license"] == {"MIT", "Apache-2.0", "Proprietary"}
    assert found["publish_image"] == {True, False}
    assert found["offline_build"] == {True, False}


def test_rows_answer_only_questions_copier_asks() -> None:
    for entry in ROWS:
        assert set(entry.answers) <= set(ASKED), entry.name
        assert entry.tags <= {"render", "gates", "image", "refused"}, entry.name
        assert bool(entry.refused) == ("refused" in entry.tags), entry.name


def test_publishing_is_reached_on_each_forge() -> None:
    forges = {
        answers(name).get("ci", QUESTIONS["ci"]["default"])
        for name in names("render")
        if answers(name).get("publish_image")
    }
    assert forges == {"github", "gitlab"}


@pytest.mark.parametrize("entry", list(rows("refused")), ids=lambda entry: entry.name)
def test_refused_rows_are_refused_and_nothing_is_written(
    render: Render, tmp_path: Path, entry: Row
) -> None:
    with pytest.raises((CopierError, ValueError)) as refused:
        render(**entry.answers)
    assert entry.refused in str(refused.value)
    assert not any(tmp_path.glob("service-*/*")), "a refused render must write nothing"
