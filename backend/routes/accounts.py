"""/api/auth/sign-up, /api/auth/sign-in and /api/me. Rules live in backend.identity.accounts."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from backend import tables
from backend.errors import InvalidInput
from backend.http.body import parse_body
from backend.identity import accounts, ratelimit
from backend.routes.deps import AppSettings, Authenticated, Db, Verifier, json_response
from generated.models import (
    Location,
    SignInRequest,
    SignUpRequest,
    TokenResponse,
    User,
    UserUpdateRequest,
)

router = APIRouter(tags=["accounts"])


def _limits(settings: AppSettings) -> accounts.Limits:
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


def _to_api(row: tables.User) -> User:
    return User.model_validate(row, from_attributes=True)


def _name(raw: str) -> str:
    name = accounts.normalise_name(raw)
    if name is None:
        raise InvalidInput.at(Location.body, "/name", "must not be blank")
    return name


def _signed_in(
    user: tables.User, settings: AppSettings, verifier: Verifier, status: int
) -> Response:
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
async def sign_up(request: Request, db: Db, settings: AppSettings, verifier: Verifier) -> Response:
    body = await parse_body(request, SignUpRequest)
    user = await accounts.sign_up(
        db, body.email, body.password, _name(body.name), _client(request), _limits(settings)
    )
    return _signed_in(user, settings, verifier, 201)


@router.post("/api/auth/sign-in", status_code=200)
async def sign_in(request: Request, db: Db, settings: AppSettings, verifier: Verifier) -> Response:
    body = await parse_body(request, SignInRequest)
    user = await accounts.sign_in(
        db, body.email, body.password, _client(request), _limits(settings)
    )
    return _signed_in(user, settings, verifier, 200)


@router.get("/api/me", status_code=200)
async def get_me(db: Db, identity: Authenticated) -> Response:
    return json_response(_to_api(await accounts.profile(db, identity)))


@router.patch("/api/me", status_code=200)
async def update_me(request: Request, db: Db, identity: Authenticated) -> Response:
    body = await parse_body(request, UserUpdateRequest)
    given = body.model_fields_set
    if "password" in given and "current_password" not in given:
        raise InvalidInput.at(
            Location.body, "/current_password", "is required to set a new password"
        )
    user = await accounts.update_profile(
        db,
        identity,
        name=_name(body.name) if "name" in given else None,
        password=body.password if "password" in given else None,
        current_password=body.current_password if "current_password" in given else None,
    )
    return json_response(_to_api(user))


@router.delete("/api/me", status_code=204)
async def delete_me(db: Db, identity: Authenticated) -> Response:
    await accounts.delete_account(db, identity)
    return Response(status_code=204)
