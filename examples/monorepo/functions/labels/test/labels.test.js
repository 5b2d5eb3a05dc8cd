// Labels tests (node --test): need the tools layer's nodejs/node_modules on NODE_PATH, as under /opt.
"use strict";

const assert = require("node:assert/strict");
const { readFileSync } = require("node:fs");
const path = require("node:path");
const { test } = require("node:test");

const { handler } = require("../index.js");

const event = (name) => JSON.parse(readFileSync(path.join(__dirname, "..", "events", name), "utf8"));
const body = (response) => JSON.parse(response.body);

test("slugify comes from a layer's nodejs/node_modules", () => {
  const where = require.resolve("slugify");
  assert.match(where, /nodejs[\\/]node_modules[\\/]slugify[\\/]index\.js$/);
});

test("the sample event gets a label with the order and the product slug", async () => {
  const response = await handler(event("order-shipped.json"));
  assert.equal(response.statusCode, 200);
  assert.deepEqual(body(response), { label: "ORD-1042/creme-brulee-rooibos-250" });
});

test("slugs match the tools layer's bin/slugify", () => {
  const { slugify } = require("slugify");
  assert.equal(slugify("Straße & Œuvre"), "strasse-and-oeuvre");
  assert.equal(slugify("  Ølbrød  2 kg "), "olbrod-2-kg");
  assert.equal(slugify("an extraordinarily long product title", { maxLength: 24 }), "an-extraordinarily-long");
});

test("a title without letters is a client error", async () => {
  const response = await handler({ order: { id: "ord-1", title: "!!!" } });
  assert.equal(response.statusCode, 400);
  assert.match(body(response).error, /no letters or digits/);
});

test("a missing order is a client error", async () => {
  assert.equal((await handler({})).statusCode, 400);
});
