//! Request-level enrichment, computed once per batch: the client IP truncated so it cannot identify
//! a person (IPv4 to /24, IPv6 to /48), and a coarse parse of the user agent.

use std::net::IpAddr;

/// Truncates an address: IPv4 keeps 3 octets, IPv6 keeps 3 groups.
pub fn truncate_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return truncate_ip(IpAddr::V4(v4));
            }
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::", s[0], s[1], s[2])
        }
    }
}

/// Browser family, operating system and device class from a User-Agent string. Coarse on purpose:
/// enough to group incidents by browser, cheap enough to run on every batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAgent {
    pub browser: &'static str,
    pub os: &'static str,
    pub device: &'static str,
}

pub fn parse_user_agent(ua: &str) -> UserAgent {
    let has = |needle: &str| ua.contains(needle);
    let lower_bot = {
        let l = ua.to_ascii_lowercase();
        l.contains("bot") || l.contains("crawler") || l.contains("spider") || l.contains("headless")
    };
    let browser = if has("Edg/") || has("Edge/") {
        "Edge"
    } else if has("OPR/") || has("Opera") {
        "Opera"
    } else if has("SamsungBrowser") {
        "Samsung Internet"
    } else if has("Firefox/") || has("FxiOS") {
        "Firefox"
    } else if has("Chrome/") || has("CriOS") || has("Chromium") {
        "Chrome"
    } else if has("Safari/") {
        "Safari"
    } else if has("curl/") {
        "curl"
    } else {
        "Other"
    };
    let os = if has("Windows") {
        "Windows"
    } else if has("iPhone") || has("iPad") || has("iPod") {
        "iOS"
    } else if has("Mac OS X") || has("Macintosh") {
        "macOS"
    } else if has("Android") {
        "Android"
    } else if has("CrOS") {
        "ChromeOS"
    } else if has("Linux") {
        "Linux"
    } else {
        "Other"
    };
    let device = if lower_bot {
        "bot"
    } else if has("iPad") || (has("Android") && !has("Mobile")) || has("Tablet") {
        "tablet"
    } else if has("Mobile") || has("iPhone") {
        "mobile"
    } else if os == "Other" {
        "other"
    } else {
        "desktop"
    };
    UserAgent { browser, os, device }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips_are_truncated() {
        assert_eq!(truncate_ip("203.0.113.77".parse().expect("v4")), "203.0.113.0");
        assert_eq!(truncate_ip("2001:db8:85a3:8d3:1319:8a2e:370:7348".parse().expect("v6")), "2001:db8:85a3::");
        assert_eq!(truncate_ip("::ffff:10.1.2.3".parse().expect("mapped")), "10.1.2.0");
    }

    #[test]
    fn user_agents_are_classified() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(parse_user_agent(chrome), UserAgent { browser: "Chrome", os: "Windows", device: "desktop" });
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(parse_user_agent(iphone), UserAgent { browser: "Safari", os: "iOS", device: "mobile" });
        let edge =
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/120 Safari/537.36 Edg/120";
        assert_eq!(parse_user_agent(edge).browser, "Edge");
        assert_eq!(parse_user_agent("Googlebot/2.1").device, "bot");
    }
}
