// Labels: turns a shipped order into its parcel label (order number and the product's slug).
// Uses the tools layer's Node.js slugify, which Lambda serves from /opt/nodejs/node_modules.
"use strict";

const { slugify } = require("slugify");

const MAX_SLUG_LENGTH = 24;

exports.handler = async (event) => {
  const order = event && event.order;
  if (!order || typeof order.id !== "string" || typeof order.title !== "string") {
    return { statusCode: 400, body: JSON.stringify({ error: "the event needs order.id and order.title" }) };
  }
  const slug = slugify(order.title, { maxLength: MAX_SLUG_LENGTH });
  if (!slug) {
    return { statusCode: 400, body: JSON.stringify({ error: `title ${JSON.stringify(order.title)} has no letters or digits` }) };
  }
  return { statusCode: 200, body: JSON.stringify({ label: `${order.id.toUpperCase()}/${slug}` }) };
};
