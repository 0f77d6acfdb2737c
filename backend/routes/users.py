"""/api/auth/sign-up, /api/auth/sign-in and /api/me. Rules live in backend.accounts."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import MISSING
from starlette.responses import Response

from backend import accounts, ratelimit
from backend.auth import Identity, TokenVerifier, authenticate
from backend.body import parse_body, required_text
from backend.config import Settings
from backend.errors import ApiError, unprocessable
from backend.models import User as UserRow
from backend.routes.common import database, json_response, run_as_user
from generated.models import (
    Location,
    SignInRequest,
    SignUpRequest,
    TokenResponse,
    User,
    UserUpdateRequest,
    ValidationErrorItem,
)

router = APIRouter(tags=["accounts"])
Authenticated = Annotated[Identity, Depends(authenticate)]

_REFUSALS = {
    accounts.Refusal.EMAIL_TAKEN: (409, "An account with this email already exists."),
    accounts.Refusal.INVALID_CREDENTIALS: (401, "The email or password is incorrect."),
    accounts.Refusal.WRONG_PASSWORD: (403, "The current password is incorrect."),
    accounts.Refusal.NO_PASSWORD: (
        409,
        "This account signs in through the auth server; it has no password here.",
    ),
}


def _refused(refusal: accounts.Refused) -> ApiError:
    if refusal.reason is accounts.Refusal.TOO_MANY:
        wait = refusal.retry_after or 1
        return ApiError(
            429, f"Too many attempts; retry in {wait} seconds.", headers={"Retry-After": str(wait)}
        )
    status, detail = _REFUSALS[refusal.reason]
    return ApiError(status, detail)


def _limits(settings: Settings) -> accounts.Limits:
    return accounts.Limits(
        signin_failures_per_email=ratelimit.Limit(
            settings.signin_max_failures, settings.signin_window_seconds
        ),
        signin_failures_per_client=ratelimit.Limit(
            settings.signin_max_failures_per_client, settings.signin_window_seconds
        ),
        signups=ratelimit.Limit(settings.signup_max_per_window, settings.signup_window_seconds),
    )


def _client(request: Request) -> str:
    # The peer address; behind a proxy, run uvicorn with --proxy-headers so it is the client's.
    return request.client.host if request.client else "unknown"


def _to_api(row: UserRow) -> User:
    return User.model_validate(row, from_attributes=True)


def _name(raw: str) -> str:
    return required_text(accounts.normalise_name(raw), "/name")


def _signed_in(request: Request, user: UserRow, status: int) -> Response:
    settings: Settings = request.app.state.settings
    verifier: TokenVerifier = request.app.state.token_verifier
    ttl = settings.access_token_ttl
    token = verifier.issue(user.id, ttl_seconds=ttl, email=user.email, name=user.name)
    body = TokenResponse(
        user=_to_api(user),
        access_token=token,
        token_type="bearer",  # noqa: S106  (the token type, not a secret)
        expires_in=ttl,
    )
    return json_response(body, status)


@router.post("/api/auth/sign-up", status_code=201)
async def sign_up(request: Request) -> Response:
    body = await parse_body(request, SignUpRequest)
    assert body is not None
    name, client, limits = _name(body.name), _client(request), _limits(request.app.state.settings)
    result = await database(request).run(
        lambda s: accounts.sign_up(s, body.email, body.password, name, client, limits)
    )
    if isinstance(result, accounts.Refused):
        raise _refused(result)
    return _signed_in(request, result, 201)


@router.post("/api/auth/sign-in", status_code=200)
async def sign_in(request: Request) -> Response:
    body = await parse_body(request, SignInRequest)
    assert body is not None
    client, limits = _client(request), _limits(request.app.state.settings)
    result = await database(request).run(
        lambda s: accounts.sign_in(s, body.email, body.password, client, limits)
    )
    if isinstance(result, accounts.Refused):
        raise _refused(result)
    return _signed_in(request, result, 200)


@router.get("/api/me", status_code=200)
async def get_me(request: Request, identity: Authenticated) -> Response:
    user = await run_as_user(request, identity, lambda _session, user: user)
    return json_response(_to_api(user))


@router.patch("/api/me", status_code=200)
async def update_me(request: Request, identity: Authenticated) -> Response:
    body = await parse_body(request, UserUpdateRequest)
    assert body is not None
    name = None if body.name is MISSING else _name(body.name)
    password = None if body.password is MISSING else body.password
    current = None if body.current_password is MISSING else body.current_password
    if password is not None and current is None:
        raise unprocessable(
            [
                ValidationErrorItem(
                    location=Location.body,
                    pointer="/current_password",
                    message="is required to set a new password",
                )
            ]
        )
    result = await run_as_user(
        request,
        identity,
        lambda s, user: accounts.update_profile(
            s, user, name=name, password=password, current_password=current
        ),
    )
    if isinstance(result, accounts.Refused):
        raise _refused(result)
    return json_response(_to_api(result))


@router.delete("/api/me", status_code=204)
async def delete_me(request: Request, identity: Authenticated) -> Response:
    await run_as_user(request, identity, accounts.delete_account)
    return Response(status_code=204)
