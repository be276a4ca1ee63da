//! Prometheus' text exposition format (version 0.0.4), written in one place for every metric the
//! collector serves: a family's `# HELP` and `# TYPE` lines, then its samples, label values
//! escaped as the format says (`\\`, `\"`, `\n`). Pure.

use std::fmt::{Display, Write};

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Exposition text being written.
#[derive(Debug, Default)]
pub(crate) struct Text {
    out: String,
}

impl Text {
    pub(crate) fn new() -> Text {
        Text::default()
    }

    /// A family's `# HELP` and `# TYPE` lines; its samples follow.
    pub(crate) fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Text {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.name());
        self
    }

    /// One sample: `name{label="value",...} value`.
    pub(crate) fn sample(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: impl Display,
    ) -> &mut Text {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, text)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{label}=\"{}\"", label_value(text));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
        self
    }

    /// A family of one unlabelled sample.
    pub(crate) fn single(
        &mut self,
        name: &str,
        kind: Kind,
        help: &str,
        value: impl Display,
    ) -> &mut Text {
        self.family(name, kind, help).sample(name, &[], value)
    }

    pub(crate) fn push(&mut self, text: &str) -> &mut Text {
        self.out.push_str(text);
        self
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// A label value as the format writes it: a backslash, a double quote and a line feed escaped.
pub(crate) fn label_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_escaped_label_values() {
        let mut text = Text::new();
        text.single("a_total", Kind::Counter, "As.", 3)
            .family("b", Kind::Gauge, "Bs, by x.")
            .sample("b", &[("x", "q\"\\\n"), ("y", "é")], 1.5);
        assert_eq!(
            text.finish(),
            "# HELP a_total As.\n# TYPE a_total counter\na_total 3\n\
             # HELP b Bs, by x.\n# TYPE b gauge\nb{x=\"q\\\"\\\\\\n\",y=\"é\"} 1.5\n"
        );
    }
}
