//! Personas: how often a kind of shopper visits, how deep they browse, how likely they buy.

/// A kind of shopper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Persona {
    /// Visits often, buys often, logs in.
    LoyalBuyer,
    /// Searches and compares a lot, buys with coupons.
    BargainHunter,
    /// Browses, adds to cart, rarely buys.
    WindowShopper,
    /// Comes, buys once, does not come back.
    OneTimeBuyer,
    /// Active for a while, then stops coming (the churn the model should predict).
    Churner,
}

/// The behaviour of a persona.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Behaviour {
    /// Mean sessions per day.
    pub sessions_per_day: f64,
    /// Mean products viewed per session.
    pub views_per_session: f64,
    /// Chance that a viewed product is added to the cart.
    pub add_to_cart: f64,
    /// Chance that a session with a cart starts checkout.
    pub checkout: f64,
    /// Chance that a started checkout completes.
    pub purchase: f64,
    /// Chance that the shopper is identified (logs in) during a session.
    pub login: f64,
    /// Chance of a search in a session.
    pub search: f64,
}

impl Persona {
    /// Every persona with its share of the population (percent).
    pub const MIX: [(Persona, u32); 5] = [
        (Self::LoyalBuyer, 15),
        (Self::BargainHunter, 20),
        (Self::WindowShopper, 35),
        (Self::OneTimeBuyer, 15),
        (Self::Churner, 15),
    ];

    /// Snake-case name, as written in traits.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoyalBuyer => "loyal_buyer",
            Self::BargainHunter => "bargain_hunter",
            Self::WindowShopper => "window_shopper",
            Self::OneTimeBuyer => "one_time_buyer",
            Self::Churner => "churner",
        }
    }

    /// How this persona behaves.
    pub fn behaviour(self) -> Behaviour {
        match self {
            Self::LoyalBuyer => Behaviour {
                sessions_per_day: 0.8,
                views_per_session: 3.0,
                add_to_cart: 0.35,
                checkout: 0.7,
                purchase: 0.85,
                login: 0.9,
                search: 0.3,
            },
            Self::BargainHunter => Behaviour {
                sessions_per_day: 0.6,
                views_per_session: 5.0,
                add_to_cart: 0.2,
                checkout: 0.5,
                purchase: 0.6,
                login: 0.6,
                search: 0.8,
            },
            Self::WindowShopper => Behaviour {
                sessions_per_day: 0.4,
                views_per_session: 4.0,
                add_to_cart: 0.12,
                checkout: 0.2,
                purchase: 0.3,
                login: 0.2,
                search: 0.4,
            },
            Self::OneTimeBuyer => Behaviour {
                sessions_per_day: 0.3,
                views_per_session: 3.0,
                add_to_cart: 0.3,
                checkout: 0.6,
                purchase: 0.7,
                login: 0.5,
                search: 0.5,
            },
            Self::Churner => Behaviour {
                sessions_per_day: 0.6,
                views_per_session: 3.0,
                add_to_cart: 0.25,
                checkout: 0.5,
                purchase: 0.6,
                login: 0.7,
                search: 0.4,
            },
        }
    }
}
