//! Parsing of the human quantities operators write (`4G`, `1.5`, `30s`)
//! into the integers Docker wants (bytes, nano-CPUs, nanoseconds).
//! Docker and compose read memory suffixes as powers of 1024; so do we.

/// Bytes from `4G`, `512m`, `2GiB`, `1073741824`.
pub fn parse_memory(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.parse().map_err(|_| {
        format!("`{text}` is not a memory size; write it like `4G`, `512M` or `2GiB`")
    })?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "ki" | "kib" => 1024.0,
        "m" | "mb" | "mi" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gi" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "ti" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "`{text}` is not a memory size: unknown unit `{other}`; use B, K, M, G or T"
            ))
        }
    };
    let bytes = (number * factor).round();
    if bytes == 0.0 {
        // No limit, as Docker reads 0 (the seed's dev instance has none).
        return Ok(0);
    }
    const MIN: f64 = 6.0 * 1024.0 * 1024.0;
    if bytes < MIN {
        return Err(format!("memory `{text}` is below Docker's minimum of 6M"));
    }
    if bytes > i64::MAX as f64 {
        return Err(format!("memory `{text}` is too large"));
    }
    Ok(bytes as i64)
}

/// Nano-CPUs from `2`, `0.5` or `"1.5"`.
pub fn parse_cpus(text: &str) -> Result<i64, String> {
    let cpus: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a CPU count; write it like `2` or `0.5`"))?;
    if cpus == 0.0 {
        return Ok(0);
    }
    if !(0.01..=1024.0).contains(&cpus) {
        return Err(format!(
            "cpus `{text}` must be between 0.01 and 1024 (or 0 for no limit)"
        ));
    }
    Ok((cpus * 1e9).round() as i64)
}

/// Nanoseconds from `30s`, `1m30s`, `500ms`, `2h`, `30d`.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let err = || format!("`{text}` is not a duration; write it like `30s`, `500ms` or `1m30s`");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(err());
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        if digits == 0 {
            return Err(err());
        }
        let value: i64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let nanos: i64 = match &rest[..unit_len] {
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            _ => return Err(err()),
        };
        rest = &rest[unit_len..];
        total = value
            .checked_mul(nanos)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(err)?;
    }
    Ok(total)
}

/// `4294967296` → `4G`: the shortest exact way to show a byte count.
pub fn format_memory(bytes: i64) -> String {
    const UNITS: [(&str, i64); 4] = [
        ("T", 1 << 40),
        ("G", 1 << 30),
        ("M", 1 << 20),
        ("K", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if bytes >= size && bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes}B")
}

/// `1500000000` → `1.5`.
pub fn format_cpus(nano: i64) -> String {
    let text = format!("{:.3}", nano as f64 / 1e9);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units_are_binary_like_docker() {
        assert_eq!(parse_memory("4G"), Ok(4 << 30));
        assert_eq!(parse_memory("512m"), Ok(512 << 20));
        assert_eq!(parse_memory("2GiB"), Ok(2 << 30));
        assert_eq!(parse_memory("1.5g"), Ok(3 << 29));
        assert_eq!(parse_memory("67108864"), Ok(64 << 20));
        assert!(parse_memory("4 gigs").is_err());
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("1k").is_err(), "below docker's minimum");
    }

    #[test]
    fn cpus_become_nano_cpus() {
        assert_eq!(parse_cpus("2"), Ok(2_000_000_000));
        assert_eq!(parse_cpus("0.5"), Ok(500_000_000));
        assert!(parse_cpus("two").is_err());
        assert!(parse_cpus("0.001").is_err());
        // 0 is "no limit", as in Docker.
        assert_eq!(parse_cpus("0"), Ok(0));
        assert_eq!(parse_memory("0"), Ok(0));
        assert!(parse_memory("1M").is_err());
    }

    #[test]
    fn durations_accept_compound_forms() {
        assert_eq!(parse_duration("30s"), Ok(30_000_000_000));
        assert_eq!(parse_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Ok(500_000_000));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn quantities_format_back_to_what_people_write() {
        assert_eq!(format_memory(4 << 30), "4G");
        assert_eq!(format_memory(1536 << 20), "1536M");
        assert_eq!(format_memory(1000), "1000B");
        assert_eq!(format_cpus(1_500_000_000), "1.5");
        assert_eq!(format_cpus(2_000_000_000), "2");
    }
}
