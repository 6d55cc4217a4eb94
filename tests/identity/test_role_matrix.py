"""Every API route against every role: a route without a role check, or a new route without an
entry here, fails the suite."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from phasegate.identity.roles import Role
from phasegate.portfolio import service as portfolio_service
from phasegate.portfolio.schemas import UseCaseSpec
from phasegate.store import Store
from tests.conftest import Users

ANY = frozenset(Role)
EDITORS = frozenset(
    {Role.admin, Role.program_lead, Role.use_case_owner, Role.technical_owner, Role.risk_owner}
)
LEADS = frozenset({Role.admin, Role.program_lead})
AUDITORS = frozenset({Role.admin, Role.program_lead, Role.risk_owner})
ADMIN = frozenset({Role.admin})

CSV = b"id,name\nmatrix-import,Imported in the role matrix\n"

# (method, path) -> (roles allowed, request keyword arguments for TestClient.request)
Request = Callable[[str], dict[str, Any]]
MATRIX: dict[tuple[str, str], tuple[frozenset[Role], Request]] = {
    ("GET", "/api/v1/me"): (ANY, lambda role: {}),
    ("GET", "/api/v1/users"): (ADMIN, lambda role: {}),
    ("POST", "/api/v1/users"): (ADMIN, lambda role: {"json": {"name": f"new-{role}", "role": "viewer"}}),
    ("POST", "/api/v1/users/{name}/roles"): (ADMIN, lambda role: {"json": {"role": "reviewer"}}),
    ("POST", "/api/v1/users/{name}/password"): (ADMIN, lambda role: {"json": {}}),
    ("POST", "/api/v1/users/{name}/tokens"): (ADMIN, lambda role: {"json": {"label": "x"}}),
    ("GET", "/api/v1/audit"): (AUDITORS, lambda role: {}),
    ("GET", "/api/v1/audit/verify"): (AUDITORS, lambda role: {}),
    ("GET", "/api/v1/usecases"): (ANY, lambda role: {}),
    ("POST", "/api/v1/usecases"): (
        frozenset({Role.admin, Role.program_lead, Role.use_case_owner}),
        lambda role: {"json": {"id": f"new-{role}", "name": "New"}},
    ),
    ("GET", "/api/v1/usecases/{usecase_id}"): (ANY, lambda role: {}),
    ("PUT", "/api/v1/usecases/{usecase_id}"): (
        EDITORS,
        lambda role: {"json": {"id": "target", "name": f"Renamed by {role}"}},
    ),
    ("PATCH", "/api/v1/usecases/{usecase_id}"): (EDITORS, lambda role: {"json": {"name": f"Patched {role}"}}),
    ("DELETE", "/api/v1/usecases/{usecase_id}"): (LEADS, lambda role: {}),
    ("GET", "/api/v1/usecases/{usecase_id}/roi"): (ANY, lambda role: {}),
    ("GET", "/api/v1/scoring-models"): (ANY, lambda role: {}),
    ("GET", "/api/v1/portfolio/rank"): (ANY, lambda role: {}),
    ("POST", "/api/v1/usecases/import"): (LEADS, lambda role: {"files": {"file": ("u.csv", CSV)}}),
    ("POST", "/api/v1/apply"): (
        EDITORS,
        lambda role: {"json": {"documents": [{"kind": "UseCase", "id": "target", "name": f"A {role}"}]}},
    ),
}


def api_routes(client: TestClient) -> set[tuple[str, str]]:
    """Every operation the API publishes (every API route is in the OpenAPI document)."""
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    return {(method.upper(), path) for path, operations in paths.items() for method in operations}


def test_every_api_route_has_an_entry_in_the_matrix(app_client: TestClient) -> None:
    missing = api_routes(app_client) - set(MATRIX)
    assert not missing, f"routes without a role-matrix entry (add them to MATRIX): {sorted(missing)}"
    stale = set(MATRIX) - api_routes(app_client)
    assert not stale, f"matrix entries for routes that no longer exist: {sorted(stale)}"


def _seed(store: Store) -> None:
    from phasegate.identity.service import local_operator

    with store.transaction() as session:
        portfolio_service.create(
            session, actor=local_operator("seed"), spec=UseCaseSpec(id="target", name="Target")
        )


def _url(path: str) -> str:
    return path.replace("{usecase_id}", "target").replace("{name}", "someone")


def test_each_role_is_allowed_exactly_what_the_matrix_says(
    app_client: TestClient, users: Users, store: Store
) -> None:
    tokens = {role: users.token(f"user-{role.value}", role.value) for role in Role}
    users.token("someone", "viewer")
    surprises = []
    for (method, path), (allowed, request) in sorted(MATRIX.items()):
        for role in Role:
            _seed_fresh(store)
            response = app_client.request(
                method, _url(path), headers={"Authorization": f"Bearer {tokens[role]}"}, **request(role.value)
            )
            if role in allowed and response.status_code in (401, 403):
                surprises.append(f"{role} refused {method} {path}: {response.status_code} {response.text}")
            if role not in allowed and response.status_code != 403:
                surprises.append(f"{role} not refused {method} {path}: {response.status_code}")
    assert not surprises, "\n".join(surprises)


def _seed_fresh(store: Store) -> None:
    with store.transaction() as session:
        exists = portfolio_service.get_all(session, filters=portfolio_service.Filters(text="target"))
    if not any(u.id == "target" for u in exists):
        _seed(store)


@pytest.mark.parametrize("method,path", sorted(MATRIX))
def test_no_token_is_401(app_client: TestClient, method: str, path: str) -> None:
    _, request = MATRIX[(method, path)]
    response = app_client.request(method, _url(path), **request("anonymous"))
    assert response.status_code == 401
    assert "token" in response.json()["detail"]


def test_an_invalid_token_is_401(app_client: TestClient) -> None:
    response = app_client.get("/api/v1/usecases", headers={"Authorization": "Bearer pg_not-a-real-token"})
    assert response.status_code == 401


def test_a_role_on_one_use_case_does_not_reach_another(
    app_client: TestClient, users: Users, store: Store
) -> None:
    _seed(store)
    app_client.post(
        "/api/v1/usecases", json={"id": "other", "name": "Other"}, headers=users.headers("lead", "admin")
    )
    headers = users.headers("scoped", "use-case-owner", usecase="target")
    assert (
        app_client.patch("/api/v1/usecases/target", json={"name": "Mine"}, headers=headers).status_code == 200
    )
    assert (
        app_client.patch("/api/v1/usecases/other", json={"name": "Not mine"}, headers=headers).status_code
        == 403
    )
    # A role on one use case is not a global one: it cannot create use cases.
    assert (
        app_client.post("/api/v1/usecases", json={"id": "x", "name": "X"}, headers=headers).status_code == 403
    )


def test_the_owner_named_in_a_use_case_may_edit_it(
    app_client: TestClient, users: Users, store: Store
) -> None:
    _seed(store)
    headers = users.headers("maria.lopez", "viewer")
    assert (
        app_client.patch("/api/v1/usecases/target", json={"name": "Hers"}, headers=headers).status_code == 403
    )
    admin = users.headers("root", "admin")
    app_client.patch("/api/v1/usecases/target", json={"owners": {"use_case": "maria.lopez"}}, headers=admin)
    assert (
        app_client.patch("/api/v1/usecases/target", json={"name": "Hers"}, headers=headers).status_code == 200
    )
