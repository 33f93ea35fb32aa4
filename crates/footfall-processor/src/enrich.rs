//! Enrichment: user agent → browser, OS, device type; bots flagged; referrer + UTM → channel;
//! URL → host and path; revenue and currency of orders; country and city of the IP (with a
//! MaxMind database); the IP truncated or dropped for privacy. Pure functions of the event
//! (the user-agent cache only saves work), so replays enrich identically.

use crate::geo::{GeoDb, Place};
use crate::input::InputEvent;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// What to keep of the IP address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IpPolicy {
    /// The address as received.
    Keep,
    /// IPv4 to its /24, IPv6 to its /48 (the last octet or 80 bits zeroed), as Google
    /// Analytics' IP anonymization does.
    #[default]
    Truncate,
    /// No address at all.
    Drop,
}

/// What the user agent says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Agent {
    /// Browser (or crawler) name: `Chrome`, `Safari`, `Googlebot`, … or `UNKNOWN`.
    pub browser: String,
    /// Operating system: `Windows 10`, `iPhone`, `Android`, `Mac OSX`, … or `UNKNOWN`.
    pub os: String,
    /// `desktop`, `mobile`, `tablet`, `bot` or `other`.
    pub device_type: &'static str,
    /// A crawler, monitor or headless browser rather than a person.
    pub is_bot: bool,
}

/// An event's enriched fields.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Enrichment {
    /// From the user agent.
    pub agent: Arc<Agent>,
    /// Acquisition channel: `direct`, `organic search`, `paid search`, `organic social`,
    /// `paid social`, `email`, `display`, `affiliate`, `referral`, `internal`.
    pub channel: &'static str,
    /// Host of the page URL.
    pub host: Option<String>,
    /// Path of the page (the `path` field, else the URL's).
    pub path: Option<String>,
    /// Host of the referrer.
    pub referrer_host: Option<String>,
    /// Revenue of an order (`Order Completed`: `revenue`, else `total`; `Order Refunded`:
    /// negative).
    pub revenue: Option<f64>,
    /// Its currency (`currency`, else USD).
    pub currency: Option<String>,
    /// Country (ISO code) of the IP, when a MaxMind database is configured.
    pub country: Option<String>,
    /// City of the IP, when a MaxMind database is configured.
    pub city: Option<String>,
    /// The IP after the privacy policy.
    pub ip: Option<String>,
}

/// Substrings of user agents that are automation, beyond what the parser knows as crawlers
/// (after the IAB/ABC spiders-and-bots list's most common patterns).
const BOT_MARKERS: &[&str] = &[
    "bot",
    "crawl",
    "spider",
    "slurp",
    "headless",
    "phantomjs",
    "python-requests",
    "curl/",
    "wget",
    "httpclient",
    "monitor",
    "lighthouse",
    "pingdom",
    "uptime",
    "scrapy",
    "go-http-client",
    "java/",
    "okhttp",
    "axios/",
];

/// Search engines' hosts (organic search when the link is not tagged as paid).
const SEARCH: &[&str] = &["google.", "bing.", "duckduckgo.", "yahoo.", "baidu.", "yandex.", "ecosia.", "search.brave."];

/// Social networks' hosts.
const SOCIAL: &[&str] = &[
    "facebook.",
    "instagram.",
    "t.co",
    "twitter.",
    "x.com",
    "linkedin.",
    "lnkd.in",
    "reddit.",
    "pinterest.",
    "tiktok.",
    "youtube.",
    "snapchat.",
    "threads.net",
    "bsky.app",
    "mastodon.",
];

/// User agents parsed so far (bounded: cleared when full).
const AGENT_CACHE_MAX: usize = 10_000;

/// The enricher.
pub struct Enricher {
    parser: woothee::parser::Parser,
    agents: HashMap<String, Arc<Agent>>,
    ip_policy: IpPolicy,
    geo: Option<Arc<GeoDb>>,
}

impl std::fmt::Debug for Enricher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enricher")
            .field("cached_agents", &self.agents.len())
            .field("ip", &self.ip_policy)
            .field("geo", &self.geo)
            .finish()
    }
}

impl Enricher {
    /// An enricher applying `ip_policy`.
    pub fn new(ip_policy: IpPolicy) -> Self {
        Self { parser: woothee::parser::Parser::new(), agents: HashMap::new(), ip_policy, geo: None }
    }

    /// Also places IPs with `geo`.
    pub fn with_geo(mut self, geo: Arc<GeoDb>) -> Self {
        self.geo = Some(geo);
        self
    }

    /// The enrichment of `event`.
    pub fn enrich(&mut self, event: &InputEvent) -> Enrichment {
        let agent = self.agent(event.user_agent.as_deref().unwrap_or(""));
        let page = event.page_url.as_deref().and_then(|u| url::Url::parse(u).ok());
        let host = page.as_ref().and_then(|u| u.host_str()).map(str::to_owned);
        let path = event.page_path.clone().or_else(|| page.as_ref().map(|u| u.path().to_owned()));
        let referrer_host = event
            .referrer
            .as_deref()
            .filter(|r| !r.is_empty())
            .and_then(|r| url::Url::parse(r).ok())
            .and_then(|u| u.host_str().map(str::to_owned));
        let channel = channel(event.utm_medium.as_deref(), referrer_host.as_deref(), host.as_deref());
        let (revenue, currency) = money(event);
        let place = match (&self.geo, event.ip.as_deref()) {
            (Some(geo), Some(ip)) => geo.locate(ip),
            _ => Place::default(),
        };
        Enrichment {
            agent,
            channel,
            host,
            path,
            referrer_host,
            revenue,
            currency,
            country: place.country,
            city: place.city,
            ip: event.ip.as_deref().and_then(|ip| privacy(ip, self.ip_policy)),
        }
    }

    fn agent(&mut self, user_agent: &str) -> Arc<Agent> {
        if let Some(known) = self.agents.get(user_agent) {
            return Arc::clone(known);
        }
        let agent = Arc::new(parse_agent(&self.parser, user_agent));
        if self.agents.len() >= AGENT_CACHE_MAX {
            self.agents.clear();
        }
        self.agents.insert(user_agent.to_owned(), Arc::clone(&agent));
        agent
    }
}

fn parse_agent(parser: &woothee::parser::Parser, user_agent: &str) -> Agent {
    let lower = user_agent.to_ascii_lowercase();
    let marked = BOT_MARKERS.iter().any(|m| lower.contains(m));
    let Some(parsed) = parser.parse(user_agent) else {
        return Agent {
            browser: "UNKNOWN".into(),
            os: "UNKNOWN".into(),
            device_type: if marked { "bot" } else { "other" },
            is_bot: marked,
        };
    };
    let crawler = parsed.category == "crawler";
    let is_bot = crawler || marked;
    let tablet = parsed.os == "iPad" || (parsed.os == "Android" && !lower.contains("mobile"));
    let device_type = match parsed.category {
        _ if is_bot => "bot",
        "smartphone" | "mobilephone" if tablet => "tablet",
        "smartphone" | "mobilephone" => "mobile",
        "pc" => "desktop",
        _ => "other",
    };
    Agent { browser: parsed.name.to_owned(), os: parsed.os.to_owned(), device_type, is_bot }
}

/// The acquisition channel from the UTM medium and the referrer, in the spirit of Google
/// Analytics' default channel grouping: a tagged medium decides; else the referrer's kind;
/// else direct. A referrer on the page's own host is `internal` (a navigation, not a source).
pub fn channel(utm_medium: Option<&str>, referrer_host: Option<&str>, page_host: Option<&str>) -> &'static str {
    if let Some(medium) = utm_medium.map(|m| m.to_ascii_lowercase()) {
        let paid = ["cpc", "ppc", "paid", "paidsearch", "paid_search", "sem"];
        match medium.as_str() {
            m if paid.contains(&m) => {
                return if referrer_host.is_some_and(|r| SOCIAL.iter().any(|s| r.contains(s))) {
                    "paid social"
                } else {
                    "paid search"
                }
            }
            "paid_social" | "paid-social" | "paidsocial" | "social_paid" => return "paid social",
            "social" | "social-network" | "social_network" | "sm" => return "organic social",
            "email" | "e-mail" | "e_mail" | "newsletter" => return "email",
            "display" | "banner" | "cpm" | "expandable" | "interstitial" => return "display",
            "affiliate" | "affiliates" => return "affiliate",
            "organic" => return "organic search",
            "referral" => return "referral",
            _ => {}
        }
    }
    match referrer_host {
        None => "direct",
        Some(r) if page_host.is_some_and(|p| p == r) => "internal",
        Some(r) if SEARCH.iter().any(|s| r.contains(s)) => "organic search",
        Some(r) if SOCIAL.iter().any(|s| r.contains(s)) => "organic social",
        Some(_) => "referral",
    }
}

/// Revenue and currency of order events (Segment's e-commerce spec).
fn money(event: &InputEvent) -> (Option<f64>, Option<String>) {
    #[derive(Deserialize)]
    struct Money {
        revenue: Option<serde_json::Value>,
        total: Option<serde_json::Value>,
        currency: Option<String>,
    }
    let sign = match event.event.as_deref() {
        Some("Order Completed") => 1.0,
        Some("Order Refunded") => -1.0,
        _ => return (None, None),
    };
    let Some(money) = event.properties.as_deref().and_then(|p| serde_json::from_str::<Money>(p).ok()) else {
        return (Some(0.0), Some("USD".into()));
    };
    let number = |v: &Option<serde_json::Value>| match v {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let amount = number(&money.revenue).or(number(&money.total)).filter(|a| a.is_finite()).unwrap_or(0.0);
    (Some(sign * amount), Some(money.currency.map(|c| c.to_ascii_uppercase()).unwrap_or_else(|| "USD".into())))
}

/// The IP after `policy`; `None` when dropped or not an address.
pub fn privacy(ip: &str, policy: IpPolicy) -> Option<String> {
    let address: IpAddr = ip.trim().parse().ok()?;
    match (policy, address) {
        (IpPolicy::Drop, _) => None,
        (IpPolicy::Keep, a) => Some(a.to_string()),
        (IpPolicy::Truncate, IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            Some(std::net::Ipv4Addr::new(a, b, c, 0).to_string())
        }
        (IpPolicy::Truncate, IpAddr::V6(v6)) => {
            let s = v6.segments();
            Some(std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0).to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(ua: &str) -> Agent {
        parse_agent(&woothee::parser::Parser::new(), ua)
    }

    #[test]
    fn user_agents_give_browser_os_device_and_bots() {
        let chrome = agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36");
        assert_eq!((chrome.browser.as_str(), chrome.device_type, chrome.is_bot), ("Chrome", "desktop", false));
        let iphone = agent("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1");
        assert_eq!((iphone.os.as_str(), iphone.device_type), ("iPhone", "mobile"));
        let ipad = agent("Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1");
        assert_eq!(ipad.device_type, "tablet");
        let galaxy_tab = agent("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.107 Safari/537.36");
        assert_eq!(galaxy_tab.device_type, "tablet");
        let pixel = agent("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.107 Mobile Safari/537.36");
        assert_eq!(pixel.device_type, "mobile");
        for bot in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/130.0.0.0 Safari/537.36",
            "python-requests/2.32.3",
            "curl/8.5.0",
        ] {
            let a = agent(bot);
            assert!(a.is_bot && a.device_type == "bot", "{bot}: {a:?}");
        }
        assert_eq!(agent("").device_type, "other");
    }

    #[test]
    fn channels_follow_the_medium_then_the_referrer() {
        assert_eq!(channel(None, None, Some("shop.example")), "direct");
        assert_eq!(channel(None, Some("www.google.com"), None), "organic search");
        assert_eq!(channel(Some("cpc"), Some("www.google.com"), None), "paid search");
        assert_eq!(channel(Some("CPC"), Some("www.facebook.com"), None), "paid social");
        assert_eq!(channel(Some("paid_social"), Some("www.tiktok.com"), None), "paid social");
        assert_eq!(channel(None, Some("t.co"), None), "organic social");
        assert_eq!(channel(Some("email"), None, None), "email");
        assert_eq!(channel(None, Some("blog.example.org"), Some("shop.example")), "referral");
        assert_eq!(channel(None, Some("shop.example"), Some("shop.example")), "internal");
    }

    #[test]
    fn ips_are_kept_truncated_or_dropped() {
        assert_eq!(privacy("203.0.113.77", IpPolicy::Truncate).as_deref(), Some("203.0.113.0"));
        assert_eq!(
            privacy("2001:db8:85a3:8d3:1319:8a2e:370:7348", IpPolicy::Truncate).as_deref(),
            Some("2001:db8:85a3::")
        );
        assert_eq!(privacy("203.0.113.77", IpPolicy::Keep).as_deref(), Some("203.0.113.77"));
        assert_eq!(privacy("203.0.113.77", IpPolicy::Drop), None);
        assert_eq!(privacy("not an ip", IpPolicy::Keep), None);
    }

    #[test]
    fn orders_carry_revenue_and_currency() {
        let order = |props: &str, name: &str| InputEvent {
            kind: "track".into(),
            event: Some(name.into()),
            properties: Some(props.into()),
            ..InputEvent::default()
        };
        assert_eq!(
            money(&order(r#"{"revenue": 25.5, "total": 30}"#, "Order Completed")),
            (Some(25.5), Some("USD".into()))
        );
        assert_eq!(
            money(&order(r#"{"total": "30.25", "currency": "eur"}"#, "Order Completed")),
            (Some(30.25), Some("EUR".into()))
        );
        assert_eq!(money(&order(r#"{"revenue": 10}"#, "Order Refunded")).0, Some(-10.0));
        assert_eq!(money(&order(r#"{"revenue": 10}"#, "Product Added")), (None, None));
    }
}
