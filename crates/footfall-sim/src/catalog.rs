//! The demo shop's catalog: products with categories and prices, and what people search for.

/// A product on sale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Product {
    /// Stable id (`sku-…`).
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Category.
    pub category: &'static str,
    /// Price in USD.
    pub price: f64,
    /// Brand.
    pub brand: &'static str,
}

macro_rules! products {
    ($(($id:literal, $name:literal, $cat:literal, $price:literal, $brand:literal)),* $(,)?) => {
        /// Every product of the shop.
        pub const PRODUCTS: &[Product] = &[$(Product { id: $id, name: $name, category: $cat, price: $price, brand: $brand }),*];
    };
}

products![
    ("sku-1001", "Trail Runner 3", "shoes", 119.0, "Stride"),
    ("sku-1002", "City Sneaker", "shoes", 79.0, "Urbn"),
    ("sku-1003", "Leather Boot", "shoes", 189.0, "Oakline"),
    ("sku-1004", "Flip Flop", "shoes", 19.0, "Sunday"),
    ("sku-2001", "Merino Tee", "apparel", 45.0, "Woolly"),
    ("sku-2002", "Rain Jacket", "apparel", 149.0, "Northbay"),
    ("sku-2003", "Denim Jeans", "apparel", 69.0, "Indigo"),
    ("sku-2004", "Hoodie", "apparel", 59.0, "Urbn"),
    ("sku-3001", "Daypack 20L", "bags", 89.0, "Northbay"),
    ("sku-3002", "Weekender Duffel", "bags", 129.0, "Oakline"),
    ("sku-4001", "Steel Bottle", "accessories", 25.0, "Hydra"),
    ("sku-4002", "Wool Beanie", "accessories", 22.0, "Woolly"),
    ("sku-4003", "Sunglasses", "accessories", 99.0, "Sunday"),
    ("sku-5001", "Smart Watch", "electronics", 249.0, "Pulse"),
    ("sku-5002", "Earbuds", "electronics", 129.0, "Pulse"),
    ("sku-5003", "Power Bank", "electronics", 39.0, "Volt"),
];

/// Categories, as listed on the shop's navigation.
pub const CATEGORIES: &[&str] = &["shoes", "apparel", "bags", "accessories", "electronics"];

/// Search queries shoppers type.
pub const QUERIES: &[&str] =
    &["running shoes", "rain jacket", "backpack", "gift", "sale", "earbuds", "boots", "hoodie", "watch", "sunglasses"];

/// Coupons some orders use.
pub const COUPONS: &[&str] = &["WELCOME10", "SALE20", "FREESHIP"];
