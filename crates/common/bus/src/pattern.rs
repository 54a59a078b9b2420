//! AMQP topic-pattern matching, so the in-process bus filters exactly like a RabbitMQ topic
//! exchange: words separated by `.`, `*` matches exactly one word, `#` zero or more.

/// Whether `event_type` matches the subscription `pattern` under AMQP topic rules.
pub fn pattern_matches(pattern: &str, event_type: &str) -> bool {
    let pat: Vec<&str> = pattern.split('.').collect();
    let words: Vec<&str> = event_type.split('.').collect();
    // tail[j]: does pat[i..] match words[j..]? Filled from the last pattern word backwards.
    let mut tail: Vec<bool> = (0..=words.len()).map(|j| j == words.len()).collect();
    for p in pat.iter().rev() {
        let mut next = vec![false; words.len() + 1];
        for j in (0..=words.len()).rev() {
            next[j] = match *p {
                // Zero words (tail[j]) or one more word (next[j + 1]).
                "#" => tail[j] || (j < words.len() && next[j + 1]),
                "*" => j < words.len() && tail[j + 1],
                lit => j < words.len() && words[j] == lit && tail[j + 1],
            };
        }
        tail = next;
    }
    tail[0]
}

#[cfg(test)]
mod tests {
    use super::pattern_matches;

    #[test]
    fn matches_like_a_topic_exchange() {
        let cases = [
            ("a.*", "a.b", true),
            ("a.*", "c.d", false),
            ("a.*", "a", false),
            ("a.*", "a.b.c", false),
            ("#", "a.b.c", true),
            ("#", "a", true),
            ("a.#", "a", true),
            ("a.#", "a.b.c", true),
            ("a.#", "b.a", false),
            ("#.end", "compute.instance.create.end", true),
            ("#.end", "compute.instance.create.start", false),
            (
                "compute.instance.*.end",
                "compute.instance.create.end",
                true,
            ),
            ("compute.instance.*.end", "compute.instance.end", false),
            ("*.#.c", "a.c", true),
            ("*.#.c", "c", false),
            ("a.#.#.b", "a.b", true),
            ("x.y", "x.y", true),
            ("x.y", "x.yz", false),
        ];
        for (pattern, event, want) in cases {
            assert_eq!(
                pattern_matches(pattern, event),
                want,
                "{pattern} vs {event}"
            );
        }
    }
}
