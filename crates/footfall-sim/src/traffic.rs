//! Where visits come from: referrers and UTM campaigns per acquisition channel.

/// How a visit reached the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// `document.referrer`, empty for direct visits.
    pub referrer: &'static str,
    /// `utm_source`, `utm_medium`, `utm_campaign`, when the link was tagged.
    pub utm: Option<(&'static str, &'static str, &'static str)>,
}

/// Sources with their relative weights.
pub const SOURCES: &[(u32, Source)] = &[
    (30, Source { referrer: "", utm: None }),
    (22, Source { referrer: "https://www.google.com/", utm: None }),
    (4, Source { referrer: "https://www.bing.com/", utm: None }),
    (10, Source { referrer: "https://www.google.com/", utm: Some(("google", "cpc", "brand_search")) }),
    (6, Source { referrer: "https://www.facebook.com/", utm: Some(("facebook", "paid_social", "winter_sale")) }),
    (5, Source { referrer: "https://www.instagram.com/", utm: None }),
    (3, Source { referrer: "https://t.co/", utm: None }),
    (8, Source { referrer: "", utm: Some(("newsletter", "email", "weekly_digest")) }),
    (5, Source { referrer: "https://www.reddit.com/r/onebag/", utm: None }),
    (4, Source { referrer: "https://blog.example.org/best-gear-2026", utm: Some(("blog", "referral", "gear_guide")) }),
    (3, Source { referrer: "https://www.tiktok.com/", utm: Some(("tiktok", "paid_social", "creator_launch")) }),
];

/// Total weight of [`SOURCES`].
pub fn total_weight() -> u32 {
    SOURCES.iter().map(|(w, _)| w).sum()
}
