"""GET /docs: Swagger UI on this API's document (GET /openapi.json), with "Try it out".

Everything the page loads comes from the proxy itself, so it works with no network: the page is
proxy/docs.html, and its script and stylesheet are the Swagger UI dist files that swagger-ui-py
ships (requirements/proxy.in).
"""

import importlib.util
import pathlib
import re

from aiohttp import web

PAGE_FILE = pathlib.Path(__file__).with_name("docs.html")
# Found by name, not imported: the package's framework glue (jinja2, PyYAML) is of no use here.
SWAGGER_UI_DIR = pathlib.Path(*importlib.util.find_spec("swagger_ui").submodule_search_locations) / "static"
# Only the files the page loads, with their content types (not guessed: Python versions differ on
# .js); the package's other files (the editor, source maps) stay unserved.
ASSETS = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript"}
# The page's static files are not part of the API: the document leaves this route out.
ASSETS_PATH = "/docs/{asset}"


async def docs_page(request: web.Request) -> web.FileResponse:
    """GET /docs: the interactive page."""
    return web.FileResponse(PAGE_FILE, headers={"Content-Type": "text/html; charset=utf-8"})


async def docs_asset(request: web.Request) -> web.FileResponse:
    """GET /docs/{asset}: one of the page's ASSETS (the route matches no other name)."""
    asset = request.match_info["asset"]
    return web.FileResponse(SWAGGER_UI_DIR / asset, headers={"Content-Type": ASSETS[asset]})


def add_docs_routes(app: web.Application) -> None:
    assets = "|".join(re.escape(asset) for asset in ASSETS)
    app.router.add_get("/docs", docs_page, allow_head=False)
    app.router.add_get(ASSETS_PATH.replace("{asset}", f"{{asset:{assets}}}"), docs_asset, allow_head=False)
