"""What every test module and bench/ share: import from here, never from another test module.

- template: this checkout as a template repository, its questions (copier.yml, parsed once)
  and its releases (tagged, or recreated from CHANGELOG.md's history)
- commands, git: running commands with their whole output on failure
- render: copier's API and CLI, the service's gates, updates
- answers: the one tagged answer matrix
- docker, http: the engine, images and containers; loopback ports and requests
- fleet: a released template and a fleet of services rendered from it
- machine: this machine's adaptations (pyenv Pythons, no uv downloads, stand-in images)
"""

from .answers import (
    COMBINATIONS,
    DEFAULT_PYTHON,
    DEFAULTS,
    PYTHON_VERSIONS,
    QUESTIONS,
    Answers,
    answers,
    python_of,
)
from .commands import attempt, edit, run, run_in_terminal
from .docker import (
    COMPILER,
    REQUIRE_DOCKER,
    built_image,
    docker,
    engine_answers,
    image_files,
    inspect,
    published_port,
    require_engine,
    run_in_python_image,
    running_container,
    unique_name,
    wait_healthy,
)
from .git import commit, git, status
from .http import free_port, http_get, http_request
from .machine import (
    COPIER,
    INTERPRETERS,
    UV,
    local_pythons,
    lock_in_python_image,
    newest_local_python,
    skip_unless_uv_can_install,
    tool,
    tool_environment,
)
from .render import (
    GATES,
    OWNER_PYTHON,
    PROJECT_NAME,
    UPDATE,
    Render,
    TaskEnvironment,
    answers_of,
    contents,
    copier,
    private_copy,
    project_files,
    render_into,
    render_release,
    update,
)
from .template import (
    REPO_ROOT,
    TEMPLATE_PATHS,
    Template,
    changelog_releases,
    checkout_history,
    questions,
    release_commit,
    release_tags,
    set_hash_seed,
)

__all__ = [
    "COMBINATIONS",
    "COMPILER",
    "COPIER",
    "DEFAULTS",
    "DEFAULT_PYTHON",
    "GATES",
    "INTERPRETERS",
    "OWNER_PYTHON",
    "PROJECT_NAME",
    "PYTHON_VERSIONS",
    "QUESTIONS",
    "REPO_ROOT",
    "REQUIRE_DOCKER",
    "TEMPLATE_PATHS",
    "UPDATE",
    "UV",
    "Answers",
    "Render",
    "TaskEnvironment",
    "Template",
    "answers",
    "answers_of",
    "attempt",
    "built_image",
    "changelog_releases",
    "checkout_history",
    "commit",
    "contents",
    "copier",
    "docker",
    "edit",
    "engine_answers",
    "free_port",
    "git",
    "http_get",
    "http_request",
    "image_files",
    "inspect",
    "local_pythons",
    "lock_in_python_image",
    "newest_local_python",
    "private_copy",
    "project_files",
    "published_port",
    "python_of",
    "questions",
    "release_commit",
    "release_tags",
    "render_into",
    "render_release",
    "require_engine",
    "run",
    "run_in_python_image",
    "run_in_terminal",
    "running_container",
    "set_hash_seed",
    "skip_unless_uv_can_install",
    "status",
    "tool",
    "tool_environment",
    "unique_name",
    "update",
    "wait_healthy",
]
