"""Typing free text: a name, description or author with quotes, backslashes, `$`, template
syntax or any script renders a service that passes its gates and says exactly what was typed;
what no file can hold on one line is refused, and nothing is written."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from copier.errors import CopierError

from .support import (
    GATES,
    HOST_PYTHON,
    INTERPRETERS,
    QUESTIONS,
    REQUIRE_DOCKER,
    UV,
    Render,
    built_image,
    engine_answers,
    inspect,
    run,
    tool,
)

FREE_TEXT = ("project_name", "description", "author_name", "author_email")
# Each question's limit, as its help states it (the tests below hold the validator to it).
MAXIMUM = {
    question: int(re.findall(r"at most (\d+) characters", QUESTIONS[question]["help"])[0])
    for question in FREE_TEXT
}

# One render per kind of hostile text, every free-text question set at once (renders and gates
# are the slow part). Names have an explicit slug: deriving one is another question's job.
HOSTILE = {
    "quotes": {
        "project_name": 'The "Orders" API\'s "edge"',
        "description": 'Routes "orders" and \'returns\' "',
        "author_name": 'Platform "Core" Team',
        "author_email": "o'brien@example.com",
    },
    "more single quotes than double": {
        "project_name": "It's the 'orders' \"API\"",
        "description": "'''triple''' and \"\"\"triple\"\"\"",
        "author_name": "O'Brien's 'Core' Team",
        "author_email": "o'brien's@example.com",
    },
    "backslashes": {
        "project_name": "ACME\\Orders \\N{x} \\",
        "description": "Reads C:\\Users\\new and \\\\server\\share\\ \\$x \\N{x}",
        "author_name": "ACME\\Platform\\",
        "author_email": "platform@example.com",
    },
    "dollars, template syntax and percent": {
        "project_name": "$HOME {{ x }} {% raw %} 100%",
        "description": "Costs $5-$10 for ${USER}: {% raw %}{{ x }}{% endraw %} %s %(x)s {#",
        "author_name": "{{ cookiecutter.team }} $USER %d",
        "author_email": "ops+$x{y}%z@example.com",
    },
    "markdown and html": {
        "project_name": "*Orders* _API_ [v2] <b> #1 &amp; ~x~ `c`",
        "description": "- 1. # > [link](x) <script>alert(1)</script> ![i](x) ***",
        "author_name": "<admin> & Co. #1",
        "author_email": "a_b-c.d@example.com",
    },
    # The look-alikes ruff refuses in this file (en dash, curly quotes, fullwidth) are escaped.
    "unicode": {
        "project_name": "Café Ünïcode \u2013 it\u2019s 🚀 日本語 \uff21\uff30\uff29",
        "description": "Café ☕ 日本語のサービス \u2013 “quoted” \u2018single\u2019 \u00d7 naïve",
        "author_name": "Zoë Ørsted 张伟 \u2013 Équipe",
        "author_email": "zoë@exämple.com",
    },
    "maximum length": {
        "project_name": "日\\" * 20,
        "description": 'é"\\$' * 25,
        "author_name": "Ø\\" * 30,
        "author_email": "a" * 68 + "@example.com",
    },
}

REFUSED_TEXT = {
    "newline": "Orders\nRUN echo pwned",
    "carriage return": "Orders\rAPI",
    "tab": "Orders\tAPI",
    "escape character": "Orders\x1b[31m",
    "right-to-left override": "Orders\u202eIPA",
    "zero-width space": "Orders\u200bAPI",
    "leading space": " Orders",
    "trailing space": "Orders ",
}


def refusal(question: str, text: str) -> tuple[str, str, str]:
    """The answer to give and the reason to expect; an email gets an address around the text."""
    if question == "author_email":
        text = text.replace("Orders", "orders@example.com")
    reason = "start or end with spaces" if text != text.strip() else "one line of visible"
    return question, text, reason


REFUSED = {
    f"{question} with a {kind}": refusal(question, text)
    for question in FREE_TEXT
    for kind, text in REFUSED_TEXT.items()
}
REFUSED |= {
    f"{question} one character too long": (
        question,
        "a" * (MAXIMUM[question] - 11) + "@example.com"
        if question == "author_email"
        else "a" * (MAXIMUM[question] + 1),
        f"at most {MAXIMUM[question]} characters",
    )
    for question in FREE_TEXT
}
REFUSED |= {
    "author_email with a double quote": ("author_email", 'a"b@example.com', "email address"),
    "author_email with a backslash": ("author_email", "a\\b@example.com", "email address"),
    "author_email with a space": ("author_email", "a b@example.com", "email address"),
    # hadolint misreads an escaped backslash before a quote; Docker itself would not.
    "description ending with a backslash": ("description", "C:\\Users\\", "backslash"),
    "description with a backslash before a quote": ("description", 'say \\"hi', "backslash"),
    "author_name with a backslash before a quote": ("author_name", 'ACME\\"x', "backslash"),
}


def docker_words(instruction: str) -> dict[str, str]:
    """A LABEL instruction's key=value words, unquoted by Docker's rules (shell/lex.go).

    Outside quotes a backslash escapes any character; in double quotes only `"`, `$` and a
    backslash, others stay. An unescaped `$` would be substituted, so it fails the test.
    """
    labels: dict[str, str] = {}
    position, text = 0, instruction.strip()
    while position < len(text):
        word: list[str] = []
        quote = ""
        while position < len(text) and (quote or not text[position].isspace()):
            char = text[position]
            position += 1
            if char == "\\" and quote != "'":
                following = text[position]
                if quote and following not in '"$\\':
                    word.append(char)
                    continue
                word.append(following)
                position += 1
            elif char == "$" and quote != "'":
                raise AssertionError(f"Docker would substitute a variable in {text!r}")
            elif char in "\"'" and quote in ("", char):
                quote = "" if quote else char
            else:
                word.append(char)
        key, _, value = "".join(word).partition("=")
        labels[key] = value
        while position < len(text) and text[position].isspace():
            position += 1
    return labels


def label_instruction(dockerfile: str) -> str:
    """The LABEL instruction with its continuation lines joined, without `LABEL`."""
    lines = dockerfile.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("LABEL "))
    joined = []
    for line in lines[start:]:
        joined.append(line.removesuffix("\\"))
        if not line.endswith(" \\"):
            break
    return " ".join(joined).removeprefix("LABEL ")


MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def markdown_text(line: str) -> str:
    """What CommonMark shows for a line of plain text: backslash-escaped punctuation unescaped.

    Fails when a character that would format, link, open HTML or start a list is not escaped.
    """
    bare = MARKDOWN_ESCAPE.sub("", line)
    assert not re.search(r"[`*_\[\]<>#|~$\\]|&#?\w+;|^[-+] |^\d+[.)]", bare), line
    return MARKDOWN_ESCAPE.sub(r"\1", line)


def assert_says_what_was_typed(project: Path, typed: dict[str, str]) -> None:
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert {question: recorded[question] for question in FREE_TEXT} == typed

    pyproject = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert pyproject["description"] == typed["description"]
    assert pyproject["authors"] == [{"name": typed["author_name"], "email": typed["author_email"]}]

    readme = (project / "README.md").read_text().splitlines()
    assert readme[0].startswith("# ")
    assert markdown_text(readme[0].removeprefix("# ")) == typed["project_name"]
    assert markdown_text(readme[2]) == typed["description"]

    assert f"Copyright (c) {typed['author_name']}\n" in (project / "LICENSE").read_text()

    dockerfile = (project / "Dockerfile").read_text()
    assert dockerfile.startswith(f"# Image of {typed['project_name']}.\n")
    labels = docker_words(label_instruction(dockerfile))
    assert labels["org.opencontainers.image.description"] == typed["description"]
    authors = f"{typed['author_name']} <{typed['author_email']}>"
    assert labels["org.opencontainers.image.authors"] == authors


def openapi_title(project: Path) -> str:
    package = yaml.safe_load((project / ".copier-answers.yml").read_text())["package_name"]
    script = (
        f"import json; from {package}.app import create_app; print(json.dumps(create_app().title))"
    )
    return str(json.loads(run(UV, "run", "--locked", "python", "-c", script, cwd=project).stdout))


def docker_labels(project: Path, tmp_path: Path) -> dict[str, str]:
    """The labels Docker itself reads from the rendered LABEL instruction (a scratch image)."""
    context = tmp_path / "label-context"
    context.mkdir()
    instruction = label_instruction((project / "Dockerfile").read_text())
    (context / "Dockerfile").write_text(f"FROM scratch\nLABEL {instruction}\n")
    with built_image(context) as image:
        labels: dict[str, str] = inspect(image)["Config"]["Labels"]
    return labels


@pytest.mark.slow
@pytest.mark.skipif(HOST_PYTHON not in INTERPRETERS, reason="the gates run on the host's Python")
@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_free_text_renders_a_service_that_passes_its_gates_and_says_it(
    render: Render, tmp_path: Path, kind: str
) -> None:
    typed = HOSTILE[kind]
    slug = f"hostile-{list(HOSTILE).index(kind) + 1}"
    project = render(**typed, project_slug=slug, python_version=HOST_PYTHON)

    assert_says_what_was_typed(project, typed)
    run(tool("hadolint"), "--no-color", "--failure-threshold", "style", "Dockerfile", cwd=project)
    run(tool("yamllint"), "--config-file", ".yamllint.yaml", "--strict", ".", cwd=project)
    for gate in GATES:
        run(UV, *gate, cwd=project)
    assert openapi_title(project) == typed["project_name"]
    if engine_answers():
        labels = docker_labels(project, tmp_path)
        assert labels["org.opencontainers.image.description"] == typed["description"]
        authors = f"{typed['author_name']} <{typed['author_email']}>"
        assert labels["org.opencontainers.image.authors"] == authors
    elif REQUIRE_DOCKER:
        pytest.fail("no Docker engine answers `docker info` to read the image labels")


def test_hostile_table_reaches_every_limit_and_question() -> None:
    at_maximum = HOSTILE["maximum length"]
    assert {question: len(at_maximum[question]) for question in FREE_TEXT} == MAXIMUM
    for typed in HOSTILE.values():
        assert set(typed) == set(FREE_TEXT)


def test_label_and_markdown_readers_follow_docker_and_commonmark() -> None:
    assert docker_words('a="x \\$H \\" \\\\ \\y" b=c') == {"a": 'x $H " \\ \\y', "b": "c"}
    with pytest.raises(AssertionError, match="substitute"):
        docker_words('a="$HOME"')
    assert markdown_text("\\*a\\* C:\\\\Users") == "*a* C:\\Users"
    for unescaped in ("*a*", "<b>", "- item", "1. item", "&amp;", "C:\\Users"):
        with pytest.raises(AssertionError):
            markdown_text(unescaped)


@pytest.mark.parametrize(("question", "text", "message"), REFUSED.values(), ids=REFUSED)
def test_free_text_no_file_can_hold_is_refused_and_nothing_is_written(
    render: Render, tmp_path: Path, question: str, text: str, message: str
) -> None:
    with pytest.raises((CopierError, ValueError)) as refused:
        render(**{question: text, "project_slug": "refused"})
    assert f"{question} must" in str(refused.value)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value).strip(), "the reason is one line"
    assert not any(tmp_path.glob("service-*/*")), "a refused render must write nothing"
