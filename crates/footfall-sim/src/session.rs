//! One visit of one shopper: the Segment calls it produces, with the time each happens.

use crate::catalog::{Product, CATEGORIES, COUPONS, PRODUCTS, QUERIES};
use crate::persona::Persona;
use crate::traffic::{total_weight, Source, SOURCES};
use crate::user_agent::Device;
use chrono::{DateTime, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};

const SHOP: &str = "https://shop.footfall.dev";

/// A simulated person.
#[derive(Debug, Clone)]
pub struct Shopper {
    /// Position in the population (user ids derive from it).
    pub index: u32,
    /// Kind of shopper.
    pub persona: Persona,
    /// Device class.
    pub device: Device,
    /// The browser's user agent.
    pub user_agent: &'static str,
    /// The current anonymous id (cookie); renewed now and then, as cookies are cleared.
    pub anonymous_id: String,
    /// Whether the shop knows who they are (they logged in once).
    pub identified: bool,
    /// How far the device's clock is off, in milliseconds.
    pub clock_skew_ms: i64,
    /// When they stop visiting, if they churn.
    pub churn_at: Option<DateTime<Utc>>,
    /// Whether they bought at least once.
    pub has_bought: bool,
    /// Their IP address (from documentation ranges).
    pub ip: String,
    /// Locale and time zone of the browser.
    pub locale: (&'static str, &'static str),
}

impl Shopper {
    /// The user id they get when they log in.
    pub fn user_id(&self) -> String {
        format!("user-{:06}", self.index)
    }
}

/// One call of a session, not yet stamped with its time.
#[derive(Debug, Clone)]
pub struct Call {
    /// Milliseconds after the session's start.
    pub at_ms: i64,
    /// The Segment message without `timestamp`.
    pub message: Map<String, Value>,
}

/// Picks a weighted source of traffic.
fn pick_source(rng: &mut ChaCha8Rng) -> Source {
    let mut roll = rng.random_range(0..total_weight());
    for (weight, source) in SOURCES {
        if roll < *weight {
            return *source;
        }
        roll -= weight;
    }
    SOURCES[0].1
}

fn product_json(p: &Product, quantity: u32, position: usize) -> Value {
    json!({
        "product_id": p.id, "sku": p.id, "name": p.name, "category": p.category, "brand": p.brand,
        "price": p.price, "quantity": quantity, "position": position + 1,
        "url": format!("{SHOP}/products/{}", p.id),
    })
}

/// Builds the calls of one visit. `message_id` makes each call's id from the simulator's rng.
pub fn visit(
    shopper: &mut Shopper,
    rng: &mut ChaCha8Rng,
    message_id: &mut dyn FnMut(&mut ChaCha8Rng) -> String,
) -> Vec<Call> {
    let behaviour = shopper.persona.behaviour();
    let source = pick_source(rng);
    let mut calls = Vec::with_capacity(16);
    let mut at_ms: i64 = 0;
    let gap = |rng: &mut ChaCha8Rng| rng.random_range(4_000..75_000);
    let campaign = source.utm.map(|(s, m, c)| json!({ "source": s, "medium": m, "name": c }));
    let (width, height) = shopper.device.screen();
    let os = if shopper.user_agent.contains("iPhone") || shopper.user_agent.contains("iPad") {
        "iOS"
    } else if shopper.user_agent.contains("Android") {
        "Android"
    } else if shopper.user_agent.contains("Mac OS X") {
        "Mac OS X"
    } else if shopper.user_agent.contains("Windows") {
        "Windows"
    } else {
        "Linux"
    };
    let mut push = |calls: &mut Vec<Call>,
                    shopper: &Shopper,
                    rng: &mut ChaCha8Rng,
                    at_ms: i64,
                    kind: &str,
                    fields: Value,
                    page: (&str, &str)| {
        let (path, title) = page;
        let search =
            source.utm.map(|(s, m, c)| format!("?utm_source={s}&utm_medium={m}&utm_campaign={c}")).unwrap_or_default();
        let mut context = json!({
            "ip": shopper.ip,
            "userAgent": shopper.user_agent,
            "locale": shopper.locale.0,
            "timezone": shopper.locale.1,
            "library": { "name": "footfall-sim", "version": env!("CARGO_PKG_VERSION") },
            "device": { "type": shopper.device.as_str() },
            "os": { "name": os },
            "screen": { "width": width, "height": height },
            "page": { "path": path, "url": format!("{SHOP}{path}{search}"), "title": title, "referrer": source.referrer, "search": search },
        });
        if let (Some(campaign), Some(ctx)) = (&campaign, context.as_object_mut()) {
            ctx.insert("campaign".into(), campaign.clone());
        }
        let mut message = Map::new();
        message.insert("type".into(), kind.into());
        message.insert("messageId".into(), message_id(rng).into());
        message.insert("anonymousId".into(), shopper.anonymous_id.clone().into());
        if shopper.identified {
            message.insert("userId".into(), shopper.user_id().into());
        }
        if let Value::Object(fields) = fields {
            message.extend(fields);
        }
        message.insert("context".into(), context);
        calls.push(Call { at_ms, message });
    };

    let landing_category = CATEGORIES[rng.random_range(0..CATEGORIES.len())];
    let landing =
        if rng.random_bool(0.5) { ("/".to_string(), "Home") } else { (format!("/c/{landing_category}"), "Category") };
    push(
        &mut calls,
        shopper,
        rng,
        at_ms,
        "page",
        json!({
            "name": landing.1,
            "properties": { "path": landing.0, "url": format!("{SHOP}{}", landing.0), "referrer": source.referrer, "title": landing.1 },
        }),
        (&landing.0, landing.1),
    );

    if rng.random_bool(behaviour.search) {
        at_ms += gap(rng);
        let query = QUERIES[rng.random_range(0..QUERIES.len())];
        push(
            &mut calls,
            shopper,
            rng,
            at_ms,
            "track",
            json!({ "event": "Products Searched", "properties": { "query": query } }),
            ("/search", "Search"),
        );
    }
    at_ms += gap(rng);
    let listed: Vec<&Product> = PRODUCTS.iter().filter(|p| p.category == landing_category).collect();
    push(
        &mut calls,
        shopper,
        rng,
        at_ms,
        "track",
        json!({
            "event": "Product List Viewed",
            "properties": { "list_id": landing_category, "category": landing_category,
                "products": listed.iter().enumerate().map(|(i, p)| product_json(p, 1, i)).collect::<Vec<_>>() },
        }),
        ("/c", "Category"),
    );

    let cart_id = format!("cart-{:x}", rng.random::<u64>());
    let mut cart: Vec<&Product> = Vec::new();
    let views = 1 + (rng.random::<f64>() * behaviour.views_per_session * 2.0) as usize;
    for _ in 0..views {
        at_ms += gap(rng);
        let product = &PRODUCTS[rng.random_range(0..PRODUCTS.len())];
        let path = format!("/products/{}", product.id);
        push(
            &mut calls,
            shopper,
            rng,
            at_ms,
            "page",
            json!({ "name": "Product", "properties": { "path": path, "title": product.name } }),
            (&path, product.name),
        );
        at_ms += 1_000;
        let mut props = product_json(product, 1, 0);
        if let Some(p) = props.as_object_mut() {
            p.insert("currency".into(), "USD".into());
        }
        push(
            &mut calls,
            shopper,
            rng,
            at_ms,
            "track",
            json!({ "event": "Product Viewed", "properties": props }),
            (&path, product.name),
        );
        if rng.random_bool(behaviour.add_to_cart) {
            at_ms += gap(rng) / 4;
            let mut props = product_json(product, 1, 0);
            if let Some(p) = props.as_object_mut() {
                p.insert("cart_id".into(), cart_id.clone().into());
                p.insert("currency".into(), "USD".into());
            }
            push(
                &mut calls,
                shopper,
                rng,
                at_ms,
                "track",
                json!({ "event": "Product Added", "properties": props }),
                (&path, product.name),
            );
            cart.push(product);
        }
    }

    if !shopper.identified && rng.random_bool(behaviour.login) {
        at_ms += gap(rng);
        shopper.identified = true;
        let id = shopper.index;
        push(
            &mut calls,
            shopper,
            rng,
            at_ms,
            "identify",
            json!({
                "traits": { "email": format!("shopper{id}@example.com"), "name": format!("Shopper {id}"), "created_at": "2026-01-01T00:00:00Z" },
            }),
            ("/login", "Log in"),
        );
    }

    if !cart.is_empty() {
        at_ms += gap(rng);
        push(
            &mut calls,
            shopper,
            rng,
            at_ms,
            "track",
            json!({ "event": "Cart Viewed", "properties": { "cart_id": cart_id,
            "products": cart.iter().enumerate().map(|(i, p)| product_json(p, 1, i)).collect::<Vec<_>>() } }),
            ("/cart", "Cart"),
        );
        if rng.random_bool(behaviour.checkout) {
            at_ms += gap(rng);
            let order_id = format!("order-{:x}", rng.random::<u64>());
            let subtotal: f64 = cart.iter().map(|p| p.price).sum();
            let products: Vec<Value> = cart.iter().enumerate().map(|(i, p)| product_json(p, 1, i)).collect();
            push(
                &mut calls,
                shopper,
                rng,
                at_ms,
                "track",
                json!({ "event": "Checkout Started", "properties": {
                "order_id": order_id, "value": subtotal, "revenue": subtotal, "currency": "USD", "products": products } }),
                ("/checkout", "Checkout"),
            );
            if rng.random_bool(behaviour.purchase) {
                at_ms += gap(rng) * 2;
                let coupon = (shopper.persona == Persona::BargainHunter || rng.random_bool(0.1))
                    .then(|| COUPONS[rng.random_range(0..COUPONS.len())]);
                let discount = if coupon.is_some() { (subtotal * 0.1 * 100.0).round() / 100.0 } else { 0.0 };
                let shipping = if subtotal >= 50.0 { 0.0 } else { 4.99 };
                let tax = ((subtotal - discount) * 0.08 * 100.0).round() / 100.0;
                let revenue = ((subtotal - discount) * 100.0).round() / 100.0;
                let total = ((revenue + shipping + tax) * 100.0).round() / 100.0;
                push(
                    &mut calls,
                    shopper,
                    rng,
                    at_ms,
                    "track",
                    json!({ "event": "Order Completed", "properties": {
                    "order_id": order_id, "checkout_id": cart_id, "total": total, "revenue": revenue, "shipping": shipping,
                    "tax": tax, "discount": discount, "coupon": coupon, "currency": "USD", "products": products } }),
                    ("/checkout/complete", "Thank you"),
                );
                shopper.has_bought = true;
            }
        }
    }
    calls
}
