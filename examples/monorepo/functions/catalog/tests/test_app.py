"""Catalog tests: need the common-deps layer on sys.path and the tools layer's bin/ on PATH."""

import json
import shutil
from pathlib import Path

import app
import pytest

EVENTS = Path(__file__).resolve().parent.parent / "events"


def body(response):
    return json.loads(response["body"])


def test_slugify_comes_from_a_layer_bin_folder():
    tool = shutil.which("slugify")
    assert tool is not None, "the tools layer's bin/ must be on PATH"
    assert Path(tool).parent.name == "bin"


def test_sample_event_builds_slug_and_punycode_url():
    event = json.loads((EVENTS / "new-product.json").read_text(encoding="utf-8"))
    response = app.handler(event, None)
    assert response["statusCode"] == 200
    assert body(response) == {
        "sku": "TEA-0042",
        "slug": "creme-brulee-rooibos-250-g",
        "url": "https://xn--bcher-und-tee-wob.example/p/creme-brulee-rooibos-250-g",
    }


def test_long_titles_are_cut_at_a_word_boundary():
    slug = app.slug_for("an extraordinarily long product title " * 4)
    assert len(slug) <= app.MAX_SLUG_LENGTH
    assert not slug.endswith("-")
    assert slug.startswith("an-extraordinarily-long-product-title")


@pytest.mark.parametrize(
    ("title", "slug"),
    [("Straße & Œuvre", "strasse-and-oeuvre"), ("  Ølbrød  2 kg ", "olbrod-2-kg"), ("ÉCLAIR", "eclair")],
)
def test_titles_are_transliterated(title, slug):
    assert app.slug_for(title) == slug


def test_title_without_letters_is_a_client_error():
    response = app.handler({"product": {"title": "!!!", "shop": "shop.example"}}, None)
    assert response["statusCode"] == 400
    assert "no letters or digits" in body(response)["error"]


def test_invalid_shop_domain_is_a_client_error():
    response = app.handler({"product": {"title": "Tea", "shop": "bad..domain"}}, None)
    assert response["statusCode"] == 400
    assert "not a valid domain name" in body(response)["error"]


def test_missing_product_is_a_client_error():
    response = app.handler({}, None)
    assert response["statusCode"] == 400
    assert "product" in body(response)["error"]
