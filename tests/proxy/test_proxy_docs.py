"""GET /docs: the Swagger UI page and its files, all served by the proxy itself."""

import re

import pytest

from proxy.docs_page import ASSETS


@pytest.fixture
async def client(proxy_client):
    return await proxy_client()


async def test_page_loads_only_what_the_proxy_serves(client):
    """The page is HTML whose scripts, styles and document are all paths on the proxy."""
    response = await client.get("/docs")
    assert response.status == 200
    assert response.content_type == "text/html"
    assert "X-Request-Id" in response.headers
    page = await response.text()
    loaded = re.findall(r'(?:src|href|url)\s*[=:]\s*"([^"]*)"', page)
    assert sorted(loaded) == sorted(["data:,", "/openapi.json", *(f"/docs/{asset}" for asset in ASSETS)])


@pytest.mark.parametrize(
    ("asset", "content_type", "text"),
    [
        ("swagger-ui.css", "text/css", ".swagger-ui"),
        ("swagger-ui-bundle.js", "text/javascript", "SwaggerUIBundle"),
    ],
)
async def test_page_assets_are_served(client, asset, content_type, text):
    """Swagger UI's stylesheet and script come from the proxy, with their content types."""
    response = await client.get(f"/docs/{asset}")
    assert response.status == 200
    assert response.content_type == content_type
    assert text in await response.text()


@pytest.mark.parametrize("path", ["/docs/swagger-editor-bundle.js", "/docs/LICENSE", "/docs/../openapi.py"])
async def test_no_other_file_is_served(client, path):
    """Only the page's own files: the package's other files, and paths outside it, are 404."""
    response = await client.get(path)
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "NOT_FOUND"
