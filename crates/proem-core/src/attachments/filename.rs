//! Attachment filename rules (spec reason `invalid_filename`): a plain, trimmed name. Refused:
//! path separators, NUL and other control characters, bidirectional-override and invisible
//! formatting characters (they make `evil\u{202e}txt.exe` read as `evilexe.txt`), dots-only names,
//! whitespace-only names, leading or trailing whitespace, and names over 255 bytes. A missing or
//! empty name is `invalid_params` ("filename is required"), not this code.

use proem_api::ReasonCode;

use crate::Rejection;

pub const MAX_FILENAME_BYTES: usize = 255;

pub fn check_filename(name: Option<&str>) -> Result<&str, Rejection> {
    let name = match name {
        None | Some("") => {
            return Err(
                Rejection::new(ReasonCode::InvalidParams, "filename is required.")
                    .with_param("filename", "required"),
            );
        }
        Some(n) => n,
    };
    let bad = |why: &str| {
        Err(Rejection::new(
            ReasonCode::InvalidFilename,
            format!("The filename {why}; use a plain trimmed name such as report.txt."),
        )
        .with_param("filename", "invalid_filename"))
    };
    if name.trim().is_empty() {
        return bad("is only whitespace");
    }
    if name.trim() != name {
        return bad("has leading or trailing whitespace");
    }
    if name.contains(['/', '\\']) {
        return bad("contains a path separator");
    }
    if name.chars().all(|c| c == '.') {
        return bad("is only dots");
    }
    if name.len() > MAX_FILENAME_BYTES {
        return bad("is longer than 255 bytes");
    }
    if let Some(c) = name.chars().find(|c| forbidden(*c)) {
        return bad(&format!(
            "contains the control or formatting character U+{:04X}",
            u32::from(c)
        ));
    }
    Ok(name)
}

/// Control characters, and the invisible/bidirectional formatting characters of Unicode's Cf
/// category that matter in names.
fn forbidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass() {
        for ok in [
            "report.txt",
            "a",
            "résumé 2026.pdf",
            ".env",
            "x.y.z",
            "日本語.txt",
            "a..b",
        ] {
            assert_eq!(check_filename(Some(ok)).unwrap(), ok);
        }
    }

    #[test]
    fn missing_or_empty_filename_is_invalid_params() {
        assert_eq!(
            check_filename(None).unwrap_err().code,
            ReasonCode::InvalidParams
        );
        assert_eq!(
            check_filename(Some("")).unwrap_err().code,
            ReasonCode::InvalidParams
        );
    }

    #[test]
    fn hostile_names_are_invalid_filename() {
        for bad in [
            "..",
            ".",
            "...",
            " ",
            "\t",
            "a/b",
            "a\\b",
            "a\0b",
            " a.txt",
            "a.txt ",
            "evil\u{202e}txt.exe",
        ] {
            assert_eq!(
                check_filename(Some(bad)).unwrap_err().code,
                ReasonCode::InvalidFilename,
                "{bad:?}"
            );
        }
        let long = "a".repeat(256);
        assert_eq!(
            check_filename(Some(&long)).unwrap_err().code,
            ReasonCode::InvalidFilename
        );
        assert!(check_filename(Some(&"a".repeat(255))).is_ok());
    }
}
