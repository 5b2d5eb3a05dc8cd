"""Catalog: turns a new product into its storefront entry (URL slug and the shop's ASCII domain).

Uses both layers: `idna` from common-deps (/opt/python) and the `slugify` tool from the tools layer,
which Lambda puts on PATH as /opt/bin/slugify.
"""

import json
import shutil
import subprocess

import idna

MAX_SLUG_LENGTH = 60


class BadProduct(ValueError):
    """The event does not describe a product we can list."""


def slug_for(title):
    tool = shutil.which("slugify")
    if tool is None:
        raise RuntimeError("slugify is not on PATH: is the tools layer attached to this function?")
    completed = subprocess.run(
        [tool, "--max-length", str(MAX_SLUG_LENGTH), title],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    )
    if completed.returncode == 1:
        raise BadProduct(f"title {title!r} has no letters or digits to build a URL from")
    completed.check_returncode()
    return completed.stdout.strip()


def shop_domain(domain):
    try:
        return idna.encode(domain.strip().rstrip("."), uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise BadProduct(f"shop domain {domain!r} is not a valid domain name: {exc}") from exc


def handler(event, context):
    try:
        product = event["product"]
        slug = slug_for(product["title"])
        domain = shop_domain(product["shop"])
    except (KeyError, TypeError) as exc:
        return {"statusCode": 400, "body": json.dumps({"error": f"missing field {exc}"})}
    except BadProduct as exc:
        return {"statusCode": 400, "body": json.dumps({"error": str(exc)})}
    entry = {"sku": product.get("sku"), "slug": slug, "url": f"https://{domain}/p/{slug}"}
    return {"statusCode": 200, "body": json.dumps(entry, ensure_ascii=False)}
