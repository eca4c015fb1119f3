"""Who may use the web chat: users from an auth file or the environment, checked in constant time, with failed
logins rate-limited. It fails closed: an auth file that names no valid user is an error, never "no login", and a
server reachable from other machines without a login needs the operator to say so (``--no-auth``).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import threading
import time
from collections import deque
from pathlib import Path

from .errors import ConfigError
from .limits import LOGIN_WINDOW_S, MAX_FAILED_LOGINS


def read_users(auth_file: str | None = None) -> dict[str, str] | None:
    """``{user: password}`` from ``auth_file`` (``user:password`` lines, ``#`` comments) or ``CHECKPOINT_QA_AUTH``
    (comma-separated); ``None`` when neither is given. Passwords never come from the command line."""
    if auth_file:
        try:
            lines = Path(auth_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read auth file {auth_file} ({getattr(exc, 'strerror', None) or exc})") \
                from None
        where = f"auth file {auth_file}"
    elif os.environ.get("CHECKPOINT_QA_AUTH", "").strip():
        lines, where = os.environ["CHECKPOINT_QA_AUTH"].split(","), "CHECKPOINT_QA_AUTH"
    else:
        return None
    users: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user.strip() or not password:
            raise ConfigError(f"{where}, entry {number}: entries must look like user:password")
        users[user.strip()] = password
    if not users:
        raise ConfigError(f"{where} names no user; add a user:password line (the chat never starts without the "
                          "login it was asked for)")
    return users


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, has_login: bool, no_auth: bool, what: str = "the chat") -> str | None:
    """An error for a non-loopback address without a login (unless ``no_auth``); the warning to print, if any."""
    if is_loopback(host) or has_login:
        return None
    if not no_auth:
        raise ConfigError(f"{host} is reachable from other machines and {what} has no login; pass --auth-file "
                          "(or set CHECKPOINT_QA_AUTH), bind 127.0.0.1, or pass --no-auth to accept the risk")
    return f"warning: {what} on {host} is open to anyone who can reach this machine (--no-auth)"


class LoginGuard:
    """A callable ``(user, password) -> bool`` for Gradio: constant-time comparison, and after
    ``MAX_FAILED_LOGINS`` failures within ``LOGIN_WINDOW_S`` a user name is locked until the window passes (the
    right password included), so passwords cannot be guessed at network speed."""

    def __init__(self, users: dict[str, str], max_failures: int = MAX_FAILED_LOGINS,
                 window_s: float = LOGIN_WINDOW_S, clock=time.monotonic):
        self.users = users
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self.failures: dict[str, deque] = {}
        self.lock = threading.Lock()

    def locked(self, user: str) -> bool:
        now = self.clock()
        with self.lock:
            recent = self.failures.get(user, deque())
            while recent and now - recent[0] > self.window_s:
                recent.popleft()
            return len(recent) >= self.max_failures

    def __call__(self, user: str, password: str) -> bool:
        user = str(user or "")[:200]
        if self.locked(user):
            return False
        expected = self.users.get(user)
        ok = expected is not None and hmac.compare_digest(str(password or "").encode(), expected.encode())
        if not ok:
            with self.lock:
                self.failures.setdefault(user, deque()).append(self.clock())
        return ok
