"""Prompt sets for sweeps: a user's text file (one prompt per line), JSONL (`prompt`, optional `system`, optional
`raw`), or a built-in set shipped in resources/prompts/ (`builtin:NAME`).

Built-in sets (written for this app; see resources/README.md):
- neutral: open-ended prompts with no topic of their own, where a steered concept has room to show;
- questions: everyday chat questions with a definite topic, which a steer has to pull away from;
- openings: raw text openings (no chat template), the way a base model is prompted;
- system: a few questions under several system prompts, for the context stress test.
"""

from __future__ import annotations

import json
from pathlib import Path

from workbench.errors import InputError
from workbench.sweeps.spec import SweepPrompt

BUILTIN_PREFIX = "builtin:"
BUILTIN_SETS = ("neutral", "questions", "openings", "system")


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
        if not path.is_file():
            raise InputError(f"prompt file not found: {path}")
    prompts = read_prompt_file(path, source)
    if not chat:
        prompts = tuple(SweepPrompt(p.text, p.system, p.system is not None, p.source) for p in prompts)
    return prompts


def read_prompt_file(path: Path, source: str) -> tuple[SweepPrompt, ...]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
    prompts = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        prompts.append(_jsonl_prompt(line, path, number, source) if jsonl else SweepPrompt(line.strip(), source=source))
    if not prompts:
        raise InputError(f"the prompt file {path} holds no prompt")
    return tuple(prompts)


def _jsonl_prompt(line: str, path: Path, number: int, source: str) -> SweepPrompt:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
    if not isinstance(value, dict) or not isinstance(value.get("prompt"), str) or not value["prompt"].strip():
        raise InputError(f'{path}:{number}: expected an object with a non-empty "prompt" field')
    system = value.get("system")
    if system is not None and not isinstance(system, str):
        raise InputError(f'{path}:{number}: "system" must be a string')
    raw = bool(value.get("raw", False))
    if raw and system is not None:
        raise InputError(f"{path}:{number}: a raw prompt cannot have a system prompt")
    return SweepPrompt(value["prompt"], system or None, chat=not raw, source=source)
