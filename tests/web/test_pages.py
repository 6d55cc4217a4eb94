"""The web pages: login, CSRF, the ranked portfolio and the one-pager, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Users
from tests.web.conftest import PASSWORD, csrf_of, log_in


def table_ids(html: str) -> list[str]:
    """The use case ids in the portfolio table, in the order shown."""
    return re.findall(r'<tr data-id="([^"]+)"', html)


@pytest.fixture
def viewer(app_client: TestClient, users: Users, seeded: list[str]) -> TestClient:
    """The app client, logged in as a viewer, over the seeded portfolio."""
    users.token("vera", "viewer")
    response = log_in(app_client, "vera")
    assert response.status_code == 303, response.text
    return app_client


def test_a_page_without_a_session_sends_the_browser_to_the_login_form(app_client: TestClient) -> None:
    response = app_client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"

    response = app_client.get("/usecases/invoice-extraction?x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fusecases%2Finvoice-extraction%3Fx%3D1"


def test_htmx_request_without_a_session_is_told_to_redirect_rather_than_swapping_the_form_in(
        app_client: TestClient) -> None:
    response = app_client.get("/?risk_tier=high", headers={"HX-Request": "true"}, follow_redirects=False)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login?next=")


def test_login_form_has_labelled_fields_and_a_csrf_token(app_client: TestClient) -> None:
    html = app_client.get("/login").text
    assert '<label for="name">' in html and '<label for="password">' in html
    assert csrf_of(html)
    assert '<meta name="csrf-token"' in html


def test_wrong_password_answers_401_and_the_form_says_so_without_saying_which_was_wrong(
        app_client: TestClient, users: Users) -> None:
    users.token("vera", "viewer")

    wrong_password = log_in(app_client, "vera", "not the password")
    unknown_user = log_in(app_client, "nobody", PASSWORD)

    for response in (wrong_password, unknown_user):
        assert response.status_code == 401
        assert "Wrong user name or password." in response.text
        assert '<form method="post" action="/login"' in response.text
    assert 'value="vera"' in wrong_password.text
    assert "not the password" not in wrong_password.text
    assert app_client.get("/", follow_redirects=False).status_code == 303


def test_post_without_the_csrf_token_is_refused_with_403(app_client: TestClient, users: Users) -> None:
    users.token("vera", "viewer")
    app_client.get("/login")

    missing = app_client.post("/login", data={"name": "vera", "password": PASSWORD}, follow_redirects=False)
    wrong = app_client.post("/login", data={"name": "vera", "password": PASSWORD, "csrf_token": "forged"},
                            follow_redirects=False)

    for response in (missing, wrong):
        assert response.status_code == 403
        assert "This form was refused" in response.text
    assert "without its security token" in missing.text
    assert "does not match your session" in wrong.text
    assert app_client.get("/", follow_redirects=False).status_code == 303


def test_csrf_token_is_also_accepted_from_the_htmx_header(app_client: TestClient, users: Users) -> None:
    users.token("vera", "viewer")
    token = csrf_of(app_client.get("/login").text)
    response = app_client.post("/login", data={"name": "vera", "password": PASSWORD},
                               headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert response.status_code == 303


def test_logout_needs_the_token_and_ends_the_session(viewer: TestClient) -> None:
    page = viewer.get("/")
    assert viewer.post("/logout", follow_redirects=False).status_code == 403
    assert viewer.get("/", follow_redirects=False).status_code == 200

    response = viewer.post("/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert viewer.get("/", follow_redirects=False).status_code == 303


def test_login_goes_back_to_the_page_asked_for_but_never_to_another_site(
        app_client: TestClient, users: Users, seeded: list[str]) -> None:
    users.token("vera", "viewer")
    token = csrf_of(app_client.get("/login?next=/usecases/kb-search").text)
    response = app_client.post("/login", data={"name": "vera", "password": PASSWORD, "csrf_token": token,
                                               "next": "/usecases/kb-search"}, follow_redirects=False)
    assert response.headers["location"] == "/usecases/kb-search"

    app_client.cookies.clear()
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        token = csrf_of(app_client.get("/login").text)
        response = app_client.post("/login", data={"name": "vera", "password": PASSWORD, "csrf_token": token,
                                                   "next": target}, follow_redirects=False)
        assert response.headers["location"] == "/", target
        app_client.cookies.clear()


def test_portfolio_lists_the_seeded_use_cases_ranked_with_their_explanations(viewer: TestClient) -> None:
    response = viewer.get("/")

    assert response.status_code == 200
    html = response.text
    # Product model: invoice 4×5×5×4 = 400, kb-search 240, claims-triage 72; the idea has no scores.
    assert table_ids(html) == ["invoice-extraction", "kb-search", "claims-triage", "contract-summaries"]
    assert "n = 4 use cases" in html
    assert "#1 on product" in html
    assert "unranked on product: missing scores.data_readiness" in html
    for column in ("Rank", "ID", "Name", "Business unit", "Status", "Risk tier", "Score", "Owner", "Done %",
                   "Payback months"):
        assert f">{column}" in html
    assert 'href="/usecases/invoice-extraction"' in html
    for model in ("product", "weighted", "value-feasibility-risk"):
        assert f'<option value="{model}"' in html


def test_portfolio_bubble_chart_plots_what_has_scores_and_lists_the_rest(viewer: TestClient) -> None:
    html = viewer.get("/").text

    assert 'id="value-feasibility-chart" data-figure=' in html
    assert "n = 2 of 4 use cases plotted" in html
    assert "Not plotted: 2 use cases" in html
    assert "no business value score" in html
    assert "no business value, technical feasibility or data readiness score" in html
    assert '<script src="/static/plotly.min.js' in html


def test_filters_narrow_the_table(viewer: TestClient) -> None:
    assert table_ids(viewer.get("/?risk_tier=high").text) == ["claims-triage"]
    assert table_ids(viewer.get("/?status=active").text) == ["kb-search", "claims-triage"]
    assert table_ids(viewer.get("/?business_unit=Finance+operations").text) == ["invoice-extraction"]
    assert table_ids(viewer.get("/?status=active&risk_tier=low").text) == ["kb-search"]
    narrowed = viewer.get("/?status=retired").text
    assert table_ids(narrowed) == []
    assert "No use case matches these filters." in narrowed


def test_htmx_filter_request_gets_only_the_results_partial(viewer: TestClient) -> None:
    response = viewer.get("/portfolio?risk_tier=low", headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert "<html" not in response.text
    assert table_ids(response.text) == ["kb-search"]
    assert "n = 1 use case matching the filters, of 4" in response.text
    assert 'id="sort-state" hx-swap-oob="true"' in response.text
    assert "HX-Request" in response.headers["Vary"]


def test_headers_sort_the_table_and_unknown_values_go_last(viewer: TestClient) -> None:
    by_name = table_ids(viewer.get("/?sort=name&dir=asc").text)
    assert by_name == ["claims-triage", "contract-summaries", "invoice-extraction", "kb-search"]
    by_payback = table_ids(viewer.get("/?sort=payback&dir=desc").text)
    assert by_payback[-1] == "contract-summaries"
    by_payback_up = table_ids(viewer.get("/?sort=payback&dir=asc").text)
    assert by_payback_up[0] == "invoice-extraction" and by_payback_up[-1] == "contract-summaries"
    html = viewer.get("/?sort=name&dir=asc").text
    assert 'aria-sort="ascending"' in html
    assert 'href="/?sort=name&amp;dir=desc"' in html


def test_another_scoring_model_reorders_the_ranking(viewer: TestClient) -> None:
    html = viewer.get("/?model=value-feasibility-risk").text
    # 5 × 2.5 × 0.7 = 8.75 for claims-triage, 3 × 4.5 × 1 = 13.5 for kb-search; invoice has no business value.
    assert table_ids(html)[:2] == ["kb-search", "claims-triage"]
    assert "#1 on value-feasibility-risk" in html


def test_one_pager_shows_roi_payback_risk_tier_owners_and_kpis(viewer: TestClient) -> None:
    response = viewer.get("/usecases/invoice-extraction")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.text
    assert "Invoice field extraction" in html
    # 42,000 × 4.10 × 0.70 = 120,540 a month; less 7,600 run cost = 112,940; 180,000 / 112,940 = 1.6 months.
    assert "120,540" in html and "112,940" in html
    assert '<span class="label">Payback</span><span class="value">1.6 months</span>' in html
    # confidential 2 + low impact 1 + drafts then acts 2 = 5 points: medium.
    assert 'Risk tier: <span class="badge tier-medium">medium</span>' in html
    assert "5 points: medium" in html
    for owner in ("maria.lopez", "dev.patel", "k.osei", "j.berg"):
        assert owner in html
    assert "36 <span aria-label=\"to\">→</span> 8" in html
    assert "hours per invoice" in html and "lower is better" in html
    assert "critical error rate" in html and "0.02" in html
    assert "Retire if cost per successful extraction" in html
    assert 'id="tornado-chart" data-figure=' in html
    assert "Definition of done: 100 %" in html


def test_one_pager_lists_what_is_missing_from_the_definition_of_done(viewer: TestClient) -> None:
    html = viewer.get("/usecases/contract-summaries").text

    assert "Definition of done: 0 %" in html
    assert "<li>stop rule</li>" in html
    assert "No ROI yet: it needs volume per month, cost per transaction now, improvement rate." in html
    assert "tornado-chart" not in html
    assert "risk unknown" in html
    assert "2 fields from the imported inventory" in html
    assert "<dt>sponsor</dt><dd>Legal operations</dd>" in html


def test_unknown_use_case_is_a_404_page(viewer: TestClient) -> None:
    response = viewer.get("/usecases/no-such-thing")

    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "no use case &#39;no-such-thing&#39;" in response.text


def test_api_errors_stay_json_beside_the_pages(app_client: TestClient, admin: dict[str, str]) -> None:
    response = app_client.get("/api/v1/usecases/no-such-thing", headers=admin)

    assert response.status_code == 404
    assert response.json()["detail"] == "no use case 'no-such-thing'"


def test_static_assets_are_served_without_the_network(app_client: TestClient) -> None:
    htmx = app_client.get("/static/htmx.min.js")
    plotly = app_client.get("/static/plotly.min.js")
    css = app_client.get("/static/phasegate.css")

    assert htmx.status_code == 200 and htmx.text.startswith("var htmx=")
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000
    assert plotly.headers["content-type"].startswith("text/javascript")
    assert css.status_code == 200


def test_a_role_on_one_use_case_opens_its_one_pager_but_not_the_portfolio(
        app_client: TestClient, users: Users, seeded: list[str]) -> None:
    users.token("olga", "use-case-owner", usecase="kb-search")
    log_in(app_client, "olga")

    portfolio = app_client.get("/")
    assert portfolio.status_code == 403
    assert "olga may not read" in portfolio.text
    assert app_client.get("/usecases/kb-search").status_code == 200
    assert app_client.get("/usecases/claims-triage").status_code == 403


def test_an_unknown_page_is_an_html_404_for_browsers(viewer: TestClient) -> None:
    response = viewer.get("/no-such-page", headers={"Accept": "text/html,application/xhtml+xml"})

    assert response.status_code == 404
    assert "<h1>Not found</h1>" in response.text
