"""Prompt sets for sweeps: a user's text file (one prompt per line), JSONL (`prompt`, optional `system`, optional
`raw`), or a built-in set shipped in resources/prompts/ (`builtin:NAME`).

Built-in sets (written for this app; see resources/README.md):
- neutral: open-ended prompts with no topic of their own, where a steered concept has room to show;
- questions: everyday chat questions with a definite topic, which a steer has to pull away from;
- openings: raw text openings (no chat template), the way a base model is prompted;
- system: a few questions under several system prompts, for the context stress test.
"""

from __future__ import annotations

from pathlib import Path

from workbench.errors import InputError
from workbench.sweeps.spec import SweepPrompt
from workbench.textfile import json_line, read_user_text

BUILTIN_PREFIX = "builtin:"
BUILTIN_SETS = ("neutral", "questions", "openings", "system")
MAX_FILE_BYTES = 16_000_000  # a sweep runs every prompt many times: a bigger file is the wrong file
MAX_PROMPT_CHARS = 100_000  # far beyond any model's context; tokenizing more would only stall the sweep


def prompts_dir() -> Path:
    from workbench.saes.demo import resources_dir

    return resources_dir() / "prompts"


def load_prompt_set(source: str, chat: bool = True) -> tuple[SweepPrompt, ...]:
    """The prompts of `builtin:NAME` or of a file. `chat=False` (the CLI's --raw) makes every prompt raw text;
    a prompt with a system prompt cannot be raw, so such a prompt keeps its chat template."""
    if source.startswith(BUILTIN_PREFIX):
        name = source.removeprefix(BUILTIN_PREFIX)
        if name not in BUILTIN_SETS:
            raise InputError(f"unknown prompt set {source!r} (built-in sets: {', '.join(BUILTIN_SETS)})")
        path = prompts_dir() / f"{name}.jsonl"
        if not path.is_file():
            raise InputError(f"the built-in prompt set {name!r} is missing from this install ({path})")
    else:
        path = Path(source).expanduser()
    prompts = read_prompt_file(path, source)
    if not chat:
        prompts = tuple(SweepPrompt(p.text, p.system, p.system is not None, p.source) for p in prompts)
    return prompts


def read_prompt_file(path: Path, source: str) -> tuple[SweepPrompt, ...]:
    lines = read_user_text(path, "prompt file", MAX_FILE_BYTES).splitlines()
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
    prompts = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if len(line) > MAX_PROMPT_CHARS:
            raise InputError(
                f"{path}:{number}: a line of {len(line)} characters; a prompt may have at most {MAX_PROMPT_CHARS}"
            )
        prompts.append(_jsonl_prompt(line, path, number, source) if jsonl else SweepPrompt(line.strip(), source=source))
    if not prompts:
        raise InputError(f"the prompt file {path} holds no prompt")
    return tuple(prompts)


def _jsonl_prompt(line: str, path: Path, number: int, source: str) -> SweepPrompt:
    value = json_line(line, path, number)
    if not isinstance(value, dict) or not isinstance(value.get("prompt"), str) or not value["prompt"].strip():
        raise InputError(f'{path}:{number}: expected an object with a non-empty "prompt" field')
    system = value.get("system")
    if system is not None and not isinstance(system, str):
        raise InputError(f'{path}:{number}: "system" must be a string')
    raw = value.get("raw", False)
    if not isinstance(raw, bool):
        raise InputError(f'{path}:{number}: "raw" must be true or false')
    if raw and system is not None:
        raise InputError(f"{path}:{number}: a raw prompt cannot have a system prompt")
    return SweepPrompt(value["prompt"], system or None, chat=not raw, source=source)
