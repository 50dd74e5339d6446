"""Throttling sign-in and registration: per client address (slowapi's decorator on the route) and per
account (the same `limits` machinery slowapi runs on, keyed by the email typed), so neither guessing
one account's password from many addresses nor many accounts from one address goes fast.

    @router.post("/login")
    @limiter.limit(per_address)
    async def login(request: Request, email: ...):
        per_account("login", email)          # HTTPException 429 past the limit
"""

from __future__ import annotations

import os

from fastapi import HTTPException
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from slowapi import Limiter
from slowapi.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, storage_uri="memory://")
_accounts = MovingWindowRateLimiter(MemoryStorage())


def per_address() -> str:
    """Attempts one address may make (SITE_SIGNIN_PER_ADDRESS, a `limits` string such as 20/minute)."""
    return os.environ.get("SITE_SIGNIN_PER_ADDRESS", "20/minute")


def per_account(action: str, account: str) -> None:
    limit = parse(os.environ.get("SITE_SIGNIN_PER_ACCOUNT", "5/minute"))
    if not _accounts.hit(limit, action, account.strip().lower()):
        raise HTTPException(429, "Too many attempts for this account. Please wait a minute and try again.",
                            headers={"Retry-After": "60"})
