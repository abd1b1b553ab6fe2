"""GET /docs in headless Chromium, with a real proxy and server: the page lists the document's
operations, and "Try it out" on POST / classifies the README's flower as a user would see it."""

import json

import pytest

from tests.support.headless_chromium import running_chromium

FLOWER = {"sepal_length": 6.8, "sepal_width": 3.2, "petal_length": 5.9, "petal_width": 2.3}
PAGE_LOAD_SECONDS = 30.0
ANSWER_SECONDS = 15.0
PREDICT = "#operations-default-predict"  # Swagger UI's element for operationId "predict"

LISTED_OPERATIONS = """[...document.querySelectorAll('.opblock')].map(operation => [
    operation.querySelector('.opblock-summary-method').textContent.toLowerCase(),
    operation.querySelector('.opblock-summary-path').dataset.path])"""


@pytest.fixture
async def docs_page(proxy_process, tmp_path):
    """A headless Chromium tab showing the real proxy's /docs, once Swagger UI has drawn it."""
    async with running_chromium(tmp_path) as page:
        await page.open(f"{proxy_process}/docs")
        await page.wait_for("document.querySelectorAll('.opblock').length > 0", PAGE_LOAD_SECONDS)
        yield page


async def test_page_lists_every_operation_loading_only_from_the_proxy(docs_page, proxy_process):
    """Every operation of the served document is on the page, which fetched nothing from elsewhere."""
    document = await docs_page.evaluate("fetch('/openapi.json').then(answer => answer.json())")
    operations = {(method, path) for path, item in document["paths"].items() for method in item}
    listed = await docs_page.evaluate(LISTED_OPERATIONS)
    assert sorted(map(tuple, listed)) == sorted(operations)
    loaded = await docs_page.evaluate("performance.getEntriesByType('resource').map(entry => entry.name)")
    assert f"{proxy_process}/openapi.json" in loaded
    assert [url for url in loaded if not url.startswith(f"{proxy_process}/")] == []


async def test_try_it_out_classifies_the_flower(docs_page):
    """Try it out on POST /, the four measurements typed into its form, Execute: 200, species "2"."""
    await docs_page.click(f"{PREDICT} .opblock-summary-control")
    await docs_page.wait_for(f"!!document.querySelector('{PREDICT} .try-out__btn')", ANSWER_SECONDS)
    await docs_page.click(f"{PREDICT} .try-out__btn")
    for field, value in FLOWER.items():
        field_input = f'{PREDICT} tr[data-property-name="{field}"] input'
        await docs_page.wait_for(f"!!document.querySelector({json.dumps(field_input)})", ANSWER_SECONDS)
        await docs_page.type_into(field_input, str(value))
    await docs_page.click(f"{PREDICT} .execute")
    answer = f"{PREDICT} .live-responses-table .response"
    body = await docs_page.wait_for(
        f"document.querySelector('{answer} .response-col_description .microlight')?.textContent",
        ANSWER_SECONDS,
    )
    status = await docs_page.evaluate(f"document.querySelector('{answer} .response-col_status').textContent")
    assert status == "200", body
    assert json.loads(body)["species"] == "2"
