"""Which loaded SAE a name refers to: the one rule the compiler, the session record, the engine and the window
share, so an edit can never steer through one SAE while its units or scales are read from another."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar


class KeyedSae(Protocol):
    """A loaded SAE as far as choosing one goes: `LoadedSae` in the model process, `SaeSummary` in the window."""

    @property
    def key(self) -> str: ...

    @property
    def layer(self) -> int: ...


S = TypeVar("S", bound=KeyedSae)


def sae_for_edit(saes: Sequence[S], layer: int, key: str | None) -> S | None:
    """The SAE an edit's feature id refers to: the one named `key` at `layer`; without a key, the first SAE
    loaded at `layer`. None when there is no such SAE."""
    return next((s for s in saes if s.layer == layer and (key is None or s.key == key)), None)


def sae_named(saes: Sequence[S], key_or_layer: str | int) -> S | None:
    """The SAE with this key (a string), or the first one loaded at this layer (an int)."""
    if isinstance(key_or_layer, str):
        return next((s for s in saes if s.key == key_or_layer), None)
    return next((s for s in saes if s.layer == key_or_layer), None)
