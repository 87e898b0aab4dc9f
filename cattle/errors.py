"""The error hierarchy: every failure a user can act on is a CattleError."""

from __future__ import annotations

from collections.abc import Sequence


class CattleError(Exception):
    """A failure with a message (what failed, where) and a hint (what to do next)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(CattleError):
    """An environment file or repository layout is wrong."""


class ToolError(CattleError):
    """An external program is missing, has the wrong version, or failed."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        argv: Sequence[str] = (),
        returncode: int | None = None,
        stderr: str = "",
    ) -> None:
        super().__init__(message, hint)
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr


class ProviderError(CattleError):
    """A cluster provider could not create, find or delete a cluster."""


class PreflightError(CattleError):
    """Something the main job needs is not on this machine."""


class ValidationError(CattleError):
    """Rendered manifests broke one or more rules."""


class SecretsError(CattleError):
    """SOPS/age encryption, decryption or key custody failed."""


class VaultError(CattleError):
    """An OpenBao backup, restore or unseal failed."""


class VaultInUse(VaultError):
    """The target OpenBao is initialised and holds data: restoring would replace it."""


class StoreError(CattleError):
    """A backup store could not be read or written."""


class KubeApiError(CattleError):
    """The Kubernetes API refused a request."""


class WaitTimeout(CattleError):
    """An object did not become ready in time."""


class DatabaseError(CattleError):
    """A PostgreSQL backup or recovery decision failed."""


class ReconcileFailed(CattleError):
    """A Flux object reached a terminal failure."""
