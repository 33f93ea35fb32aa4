//! InfluxDB line protocol: `measurement,tag=value field=1i,other=2.5 1700000000000000000`.
//!
//! Escaping follows the line protocol reference: in measurements, commas and spaces; in tag
//! keys, tag values and field keys, commas, equals signs and spaces; in string field values,
//! double quotes and backslashes. In names and tags a backslash is written as is (InfluxDB
//! 1.x reads it literally), except before an escaped character or at the end, where it
//! becomes `/` (no spelling reads back as a backslash there). Line protocol cannot carry a newline or carriage return (a
//! point is one line), so those become spaces; an empty tag value is left out (InfluxDB
//! refuses it).

use std::fmt::Write;

/// A field value.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// Integer, written with the `i` suffix.
    Integer(i64),
    /// Float, written so it reads back exactly.
    Float(f64),
    /// String, quoted.
    Text(String),
    /// Boolean.
    Boolean(bool),
}

/// One point.
#[derive(Debug, Clone, PartialEq)]
pub struct Point<'a> {
    /// Measurement name.
    pub measurement: &'a str,
    /// Tags (sorted by key is best for InfluxDB; written in the given order).
    pub tags: Vec<(&'a str, &'a str)>,
    /// Fields (at least one).
    pub fields: Vec<(&'a str, FieldValue)>,
    /// Nanoseconds since the epoch.
    pub timestamp_ns: i64,
}

fn escape_into(out: &mut String, text: &str, special: &[char]) {
    let mut chars = text.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }).peekable();
    while let Some(c) = chars.next() {
        match c {
            // InfluxDB 1.x keeps backslashes in names and tags literally (`\\` stays two), so
            // one is written as is, unless a special character or the end follows, where no
            // spelling reads back as a backslash: it becomes a slash.
            '\\' if chars.peek().is_none_or(|next| special.contains(next)) => out.push('/'),
            c if special.contains(&c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
}

/// Appends `point` as one line (with its newline) to `out`.
pub fn write_point(out: &mut String, point: &Point<'_>) {
    escape_into(out, point.measurement, &[',', ' ']);
    for (key, value) in &point.tags {
        if value.is_empty() {
            continue;
        }
        out.push(',');
        escape_into(out, key, &[',', '=', ' ']);
        out.push('=');
        escape_into(out, value, &[',', '=', ' ']);
    }
    for (i, (key, value)) in point.fields.iter().enumerate() {
        out.push(if i == 0 { ' ' } else { ',' });
        escape_into(out, key, &[',', '=', ' ']);
        out.push('=');
        match value {
            FieldValue::Integer(n) => {
                let _ = write!(out, "{n}i");
            }
            FieldValue::Float(x) if x.is_finite() => {
                let _ = write!(out, "{x:?}");
            }
            FieldValue::Float(_) => out.push_str("0.0"),
            FieldValue::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
            FieldValue::Text(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '\n' | '\r' => out.push(' '),
                        '"' | '\\' => {
                            out.push('\\');
                            out.push(c);
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
        }
    }
    let _ = writeln!(out, " {}", point.timestamp_ns);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_characters_are_escaped_where_line_protocol_needs_it() {
        let mut out = String::new();
        write_point(
            &mut out,
            &Point {
                measurement: "my events,v1",
                tags: vec![("event type", "Order Completed"), ("a=b", "x,y=z"), ("empty", "")],
                fields: vec![
                    ("events", FieldValue::Integer(3)),
                    ("revenue", FieldValue::Float(20.0)),
                    ("note", FieldValue::Text(r#"say "hi" \ bye"#.into())),
                ],
                timestamp_ns: 1_790_000_000_000_000_000,
            },
        );
        assert_eq!(
            out,
            "my\\ events\\,v1,event\\ type=Order\\ Completed,a\\=b=x\\,y\\=z events=3i,revenue=20.0,\
             note=\"say \\\"hi\\\" \\\\ bye\" 1790000000000000000\n"
        );
        let mut line = String::new();
        write_point(
            &mut line,
            &Point {
                measurement: "m",
                tags: vec![("t", "two\nlines\r")],
                fields: vec![("x", FieldValue::Float(0.1))],
                timestamp_ns: 1,
            },
        );
        assert_eq!(line, "m,t=two\\ lines\\  x=0.1 1\n", "one line per point, whatever the tags hold");
    }
}
