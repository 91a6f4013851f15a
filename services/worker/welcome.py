"""Welcome messages: the sender interface and its default.

The original printed `Welcome <email>!`; a real mailer can be plugged in later
by passing another `WelcomeSender` to the worker.
"""

from __future__ import annotations

import sys
from typing import Protocol


class WelcomeSender(Protocol):
    async def send(self, email: str) -> None:
        """Deliver the welcome to `email`. Raise to have the job retried."""


def welcome_text(email: str) -> str:
    return f"Welcome {email}!"


class PrintSender:
    """The default: the line `Welcome <email>!` on stdout, as the original did."""

    async def send(self, email: str) -> None:
        # One short write: blocking the loop for it costs less than a thread hop.
        sys.stdout.write(welcome_text(email) + "\n")
        sys.stdout.flush()
