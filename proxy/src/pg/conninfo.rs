//! libpq connection strings, read into the parameters they set: a `postgres://` (or
//! `postgresql://`) URI, or a `key=value` list. The URI's parts become the parameters libpq
//! gives them (`user`, `password`, `host`, `port`, `dbname`).
//!
//! Only reads: which parameters the gateway honours and which it refuses is
//! [`super::backend::BackendTarget::parse`]'s business. Errors never quote the input, which holds
//! the password.

/// The parameters of `s` in the order written (a later one replaces an earlier one of the same
/// name, as in libpq). Several hosts stay one `host` value with commas, as libpq keeps them.
pub fn parse(s: &str) -> Result<Vec<(String, String)>, String> {
    let s = s.trim();
    match ["postgresql://", "postgres://"]
        .iter()
        .find_map(|p| s.strip_prefix(p))
    {
        Some(rest) => parse_uri(rest),
        None => parse_keywords(s),
    }
}

fn parse_uri(rest: &str) -> Result<Vec<(String, String)>, String> {
    let mut params = Vec::new();
    // libpq: credentials end at the last `@` before the host part.
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, mut rest) = rest.split_at(authority_end);
    let hostspec = match authority.rfind('@') {
        Some(at) => {
            let (user, password) = match authority[..at].split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (&authority[..at], None),
            };
            if !user.is_empty() {
                params.push(("user".into(), decode(user, "the user name")?));
            }
            if let Some(p) = password {
                params.push(("password".into(), decode(p, "the password")?));
            }
            &authority[at + 1..]
        }
        None => authority,
    };
    if !hostspec.is_empty() {
        let (mut hosts, mut ports) = (Vec::new(), Vec::new());
        for chunk in hostspec.split(',') {
            let (host, port) = if let Some(v6) = chunk.strip_prefix('[') {
                let (host, after) = v6
                    .split_once(']')
                    .ok_or("an IPv6 host is missing its closing `]`")?;
                match after {
                    "" => (host, None),
                    _ => (
                        host,
                        Some(
                            after
                                .strip_prefix(':')
                                .ok_or("an IPv6 host must be followed by `:PORT` or nothing")?,
                        ),
                    ),
                }
            } else {
                match chunk.split_once(':') {
                    Some((h, p)) => (h, Some(p)),
                    None => (chunk, None),
                }
            };
            hosts.push(decode(host, "the host")?);
            ports.push(match port {
                Some(p) if !p.is_empty() => decode(p, "the port")?,
                _ => String::new(),
            });
        }
        params.push(("host".into(), hosts.join(",")));
        if ports.iter().any(|p| !p.is_empty()) {
            params.push(("port".into(), ports.join(",")));
        }
    }
    if let Some(path) = rest.strip_prefix('/') {
        let end = path.find('?').unwrap_or(path.len());
        if end > 0 {
            params.push(("dbname".into(), decode(&path[..end], "the database name")?));
        }
        rest = &path[end..];
    }
    if let Some(query) = rest.strip_prefix('?') {
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                format!(
                    "a URI parameter has no value (`{}` without `=VALUE`)",
                    printable(pair)
                )
            })?;
            let key = decode(key, "a parameter name")?;
            let value = decode(value, &format!("the value of {}", printable(&key)))?;
            params.push((key, value));
        }
    }
    Ok(params)
}

fn parse_keywords(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut params = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!(
                "`{}` is not followed by `=`: write key=value pairs, or a postgres:// URI",
                printable(&key)
            ));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => {
                        return Err(format!(
                            "the quoted value of {} has no closing quote",
                            printable(&key)
                        ))
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        params.push((key, value));
    }
    Ok(params)
}

/// Percent-decoding as libpq does it (UTF-8 required). `what` names the part in errors.
fn decode(s: &str, what: &str) -> Result<String, String> {
    String::from_utf8(percent_decode(s.as_bytes()))
        .map_err(|_| format!("{what} is not valid UTF-8 once %-decoded"))
}

fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        match (
            s[i],
            s.get(i + 1).copied().and_then(hex),
            s.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// A parameter name fit for an error message: names are not secret, but an input that is not a
/// name (a value pasted in the wrong place) is cut short.
pub fn printable(name: &str) -> String {
    if name.len() <= 40 && name.chars().all(|c| c.is_ascii_graphic()) {
        name.to_string()
    } else {
        "(a parameter whose name is not a plain word)".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn pairs(s: &str) -> Vec<(String, String)> {
        parse(s).unwrap()
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn uri_parts_become_parameters() {
        assert_eq!(
            pairs("postgres://app:s%40cret@db.example:6543/rental?sslmode=verify-full&sslrootcert=%2Fca.pem"),
            vec![
                p("user", "app"),
                p("password", "s@cret"),
                p("host", "db.example"),
                p("port", "6543"),
                p("dbname", "rental"),
                p("sslmode", "verify-full"),
                p("sslrootcert", "/ca.pem"),
            ]
        );
        assert_eq!(
            pairs("postgresql://u@[::1]:5/d"),
            vec![
                p("user", "u"),
                p("host", "::1"),
                p("port", "5"),
                p("dbname", "d")
            ]
        );
        assert_eq!(
            pairs("postgres://u@h1:1,h2/d"),
            vec![
                p("user", "u"),
                p("host", "h1,h2"),
                p("port", "1,"),
                p("dbname", "d")
            ]
        );
        assert_eq!(pairs("postgres://h"), vec![p("host", "h")]);
    }

    #[test]
    fn keyword_lists_with_quotes_and_escapes() {
        assert_eq!(
            pairs(r"host=h  port = 5 password='it\'s a secret' user=a\ b dbname=''"),
            vec![
                p("host", "h"),
                p("port", "5"),
                p("password", "it's a secret"),
                p("user", "a b"),
                p("dbname", ""),
            ]
        );
    }

    #[test]
    fn errors_do_not_quote_the_input() {
        let e = parse("postgres://u:hunter2@h/d?sslmode").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        let e = parse("host=h password='hunter2").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
