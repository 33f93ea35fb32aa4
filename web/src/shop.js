// The demo shop: a storefront instrumented with Segment's browser SDK, sending to the footfall
// that serves it (its collector's /v1 endpoints).
import { AnalyticsBrowser } from "@segment/analytics-next";

const PRODUCTS = [
  { product_id: "sku-101", name: "Trail Runner", category: "shoes", brand: "acme", price: 89.0 },
  { product_id: "sku-202", name: "Rain Shell", category: "jackets", brand: "acme", price: 129.0 },
  { product_id: "sku-303", name: "Wool Beanie", category: "accessories", brand: "north", price: 24.5 },
  { product_id: "sku-404", name: "Day Pack", category: "bags", brand: "north", price: 64.0 },
];

const status = document.getElementById("status");
const { writeKey } = await (await fetch("/shop/config.json")).json();
const analytics = AnalyticsBrowser.load(
  {
    writeKey,
    // The settings Segment's CDN would serve, pointing the SDK at this footfall.
    cdnSettings: {
      integrations: {
        "Segment.io": { apiKey: writeKey, apiHost: `${location.host}/v1`, protocol: location.protocol.replace(":", "") },
      },
    },
  },
  { retryQueue: true },
);
analytics.page("Shop", { title: document.title });
analytics.ready(() => {
  status.textContent = "tracking to this footfall";
  status.dataset.ready = "true";
});

const cart = [];
const renderCart = () => {
  document.getElementById("cart").textContent = cart.length
    ? `${cart.map((p) => p.name).join(", ")} — ${cart.reduce((s, p) => s + p.price, 0).toFixed(2)} USD`
    : "empty";
};

document.getElementById("products").innerHTML = PRODUCTS.map(
  (p) => `<div class="kpi"><div class="label">${p.category}</div><div class="value" style="font-size:18px">${p.name}</div>
    <p>${p.price.toFixed(2)} USD</p>
    <button data-add="${p.product_id}" data-testid="add-${p.product_id}">Add to cart</button></div>`,
).join("");
for (const p of PRODUCTS) analytics.track("Product Viewed", { ...p, currency: "USD" });

document.getElementById("products").addEventListener("click", async (event) => {
  const id = event.target?.dataset?.add;
  if (!id) return;
  const product = PRODUCTS.find((p) => p.product_id === id);
  cart.push(product);
  renderCart();
  const ctx = await analytics.track("Product Added", { ...product, quantity: 1, currency: "USD" });
  status.textContent = `sent Product Added ${ctx.event.messageId}`;
  status.dataset.lastMessageId = ctx.event.messageId;
});

document.getElementById("checkout").addEventListener("click", async () => {
  if (!cart.length) return;
  const total = cart.reduce((s, p) => s + p.price, 0);
  const products = cart.map((p) => ({ product_id: p.product_id, name: p.name, price: p.price, quantity: 1 }));
  await analytics.track("Checkout Started", { value: total, currency: "USD", products });
  const ctx = await analytics.track("Order Completed", {
    order_id: `order-${Date.now()}`,
    total,
    revenue: total,
    currency: "USD",
    products,
  });
  status.textContent = `sent Order Completed ${ctx.event.messageId}`;
  cart.length = 0;
  renderCart();
});

document.getElementById("login").addEventListener("click", async () => {
  const userId = document.getElementById("user").value.trim();
  if (userId) await analytics.identify(userId, { plan: "demo" });
  status.textContent = `identified as ${userId}`;
});
