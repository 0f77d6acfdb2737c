"""/api/auth/sign-up, /api/auth/sign-in and /api/me. Rules live in backend.identity.accounts."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from backend import tables
from backend.errors import InvalidInput
from backend.http.body import parse_body
from backend.http.responses import json_response
from backend.identity.accounts import SignedIn, normalise_name
from backend.identity.ratelimit import client_key
from backend.routes.deps import AppServices, Authenticated
from backend.services import Services
from generated.models import (
    Location,
    SignInRequest,
    SignUpRequest,
    TokenResponse,
    User,
    UserUpdateRequest,
)

router = APIRouter(tags=["accounts"])


def _client(request: Request) -> str:
    # The socket peer, or the client a trusted proxy names (TRUSTED_PROXIES): uvicorn
    # resolves X-Forwarded-For only from those. Bounded and grouped (IPv6 by /64).
    return client_key(request.client.host if request.client else None)


def _to_api(row: tables.User) -> User:
    return User.model_validate(row, from_attributes=True)


def _name(raw: str) -> str:
    name = normalise_name(raw)
    if name is None:
        raise InvalidInput.at(Location.body, "/name", "must not be blank")
    return name


def _signed_in(signed_in: SignedIn, services: Services, status: int) -> Response:
    settings = services.settings
    user, ttl = signed_in.user, settings.access_token_ttl
    token = services.verifier.issue(user.id, ttl_seconds=ttl, email=user.email, name=user.name)
    body = TokenResponse(
        user=_to_api(user),
        access_token=token,
        token_type="bearer",  # noqa: S106  (the token type, not a secret)
        expires_in=ttl,
        device_token=signed_in.device_token,
        device_token_expires_in=settings.device_token_ttl,
    )
    return json_response(body, status)


@router.post("/api/auth/sign-up", status_code=201)
async def sign_up(request: Request, services: AppServices) -> Response:
    body = await parse_body(request, SignUpRequest)
    signed_in = await services.accounts.sign_up(
        body.email, body.password, _name(body.name), _client(request)
    )
    return _signed_in(signed_in, services, 201)


@router.post("/api/auth/sign-in", status_code=200)
async def sign_in(request: Request, services: AppServices) -> Response:
    body = await parse_body(request, SignInRequest)
    device = body.device_token if "device_token" in body.model_fields_set else None
    signed_in = await services.accounts.sign_in(body.email, body.password, _client(request), device)
    return _signed_in(signed_in, services, 200)


@router.get("/api/me", status_code=200)
async def get_me(services: AppServices, identity: Authenticated) -> Response:
    return json_response(_to_api(await services.accounts.profile(identity)))


@router.patch("/api/me", status_code=200)
async def update_me(request: Request, services: AppServices, identity: Authenticated) -> Response:
    body = await parse_body(request, UserUpdateRequest)
    given = body.model_fields_set
    if "password" in given and "current_password" not in given:
        raise InvalidInput.at(
            Location.body, "/current_password", "is required to set a new password"
        )
    user = await services.accounts.update_profile(
        identity,
        name=_name(body.name) if "name" in given else None,
        password=body.password if "password" in given else None,
        current_password=body.current_password if "current_password" in given else None,
        client=_client(request),
    )
    return json_response(_to_api(user))


@router.delete("/api/me", status_code=204)
async def delete_me(services: AppServices, identity: Authenticated) -> Response:
    await services.accounts.delete_account(identity)
    return Response(status_code=204)
