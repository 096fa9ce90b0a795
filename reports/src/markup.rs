//! Writing HTML and XML by hand: escaping, and numbers as people read them.
//! The pages are simple enough that a template engine would add more than it
//! saves; every piece of text from a run goes through [`escape`].

/// Text made safe for HTML and XML, in content and in quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // XML 1.0 forbids most control characters even escaped.
            c if c.is_control() && !matches!(c, '\n' | '\t' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A count with thousands separated: `100,000`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// An RFC 3339 UTC time to the second, as people read it:
/// `2026-11-23T20:15:10.452791888Z` becomes `2026-11-23 20:15:10 UTC`.
/// Anything else is shown as it is.
pub fn wall_clock(rfc3339: &str) -> String {
    match (
        rfc3339.get(..19),
        rfc3339.ends_with('Z'),
        rfc3339.get(10..11),
    ) {
        (Some(second), true, Some("T")) => format!("{} UTC", second.replacen('T', " ", 1)),
        _ => rfc3339.to_string(),
    }
}

/// Seconds with a precision that suits them.
pub fn seconds(s: f64) -> String {
    format!("{s:.3} s")
}

/// A latency in milliseconds, three significant digits or so.
pub fn millis(seconds: f64) -> String {
    let ms = seconds * 1e3;
    match ms {
        ms if ms >= 100.0 => format!("{ms:.0} ms"),
        ms if ms >= 10.0 => format!("{ms:.1} ms"),
        ms => format!("{ms:.2} ms"),
    }
}

/// A unit enum as results.json spells it (`left-to-library`, `app-resend`).
pub fn kebab(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_numbers() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("a\u{1}b"), "a\u{fffd}b");
        assert_eq!(count(0), "0");
        assert_eq!(count(100_000), "100,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(millis(0.0021), "2.10 ms");
        assert_eq!(millis(30.0), "30000 ms");
        assert_eq!(
            wall_clock("2026-11-23T20:15:10.452791888Z"),
            "2026-11-23 20:15:10 UTC"
        );
        assert_eq!(
            wall_clock("2026-11-23T20:15:10Z"),
            "2026-11-23 20:15:10 UTC"
        );
        assert_eq!(wall_clock("yesterday"), "yesterday");
    }
}
