//! Image sniffing by magic bytes and header-declared dimensions, without decoding pixels: PNG,
//! JPEG and WebP only (`invalid_image_format`), at least 128×128 (`image_dimensions_too_small`),
//! and no declared size a decoder could be bombed with.

use proem_api::ReasonCode;

use crate::Rejection;

pub const MIN_SIDE: u32 = 128;
/// Larger declared sizes are refused: a small file declaring a huge canvas is a decompression bomb.
pub const MAX_SIDE: u32 = 16_384;
pub const MAX_PIXELS: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Jpeg,
    Webp,
}

impl ImageFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Webp => "image/webp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

fn not_an_image(why: &str) -> Rejection {
    Rejection::new(
        ReasonCode::InvalidImageFormat,
        format!("The bytes are not a readable PNG, JPEG or WebP image ({why})."),
    )
    .with_param("file", "invalid_image_format")
}

/// The format by magic bytes, if any.
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(ImageFormat::Webp)
    } else {
        None
    }
}

/// Checks an image upload and returns what its header declares.
pub fn inspect(bytes: &[u8]) -> Result<ImageInfo, Rejection> {
    let format = sniff(bytes).ok_or_else(|| not_an_image("unrecognised magic bytes"))?;
    let (width, height) = match format {
        ImageFormat::Png => png_size(bytes),
        ImageFormat::Jpeg => jpeg_size(bytes),
        ImageFormat::Webp => webp_size(bytes),
    }
    .ok_or_else(|| not_an_image("truncated or malformed header"))?;
    if width == 0 || height == 0 {
        return Err(not_an_image("zero width or height"));
    }
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Rejection::new(
            ReasonCode::InvalidImageFormat,
            format!("The image declares {width}×{height} px, more than Proem accepts ({MAX_SIDE} px a side, 64 MP)."),
        )
        .with_param("file", "dimensions_too_large"));
    }
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(Rejection::new(
            ReasonCode::ImageDimensionsTooSmall,
            format!("The image is {width}×{height} px; the minimum is {MIN_SIDE}×{MIN_SIDE}."),
        )
        .with_param("file", "image_dimensions_too_small"));
    }
    Ok(ImageInfo {
        format,
        width,
        height,
    })
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn le16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_le_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 3)?;
    Some(u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
}

/// PNG: the first chunk must be IHDR (length 13) with width and height.
fn png_size(b: &[u8]) -> Option<(u32, u32)> {
    (be32(b, 8)? == 13 && b.get(12..16)? == b"IHDR").then_some(())?;
    Some((be32(b, 16)?, be32(b, 20)?))
}

/// JPEG: walk the marker segments to the first start-of-frame.
fn jpeg_size(b: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    loop {
        // Skip fill bytes before a marker.
        while *b.get(at)? == 0xFF && *b.get(at + 1)? == 0xFF {
            at += 1;
        }
        if *b.get(at)? != 0xFF {
            return None;
        }
        let marker = *b.get(at + 1)?;
        at += 2;
        match marker {
            0xD8 | 0x01 | 0xD0..=0xD7 => continue,
            0xD9 | 0xDA => return None,
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Some((be16(b, at + 5)?, be16(b, at + 3)?));
            }
            _ => {
                let len = be16(b, at)? as usize;
                if len < 2 {
                    return None;
                }
                at += len;
            }
        }
    }
}

/// WebP: VP8 (lossy), VP8L (lossless) or VP8X (extended) first chunk.
fn webp_size(b: &[u8]) -> Option<(u32, u32)> {
    match b.get(12..16)? {
        b"VP8 " => {
            (b.get(23..26)? == [0x9D, 0x01, 0x2A]).then_some(())?;
            Some((le16(b, 26)? & 0x3FFF, le16(b, 28)? & 0x3FFF))
        }
        b"VP8L" => {
            (*b.get(20)? == 0x2F).then_some(())?;
            let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
            Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        b"VP8X" => Some((le24(b, 24)? + 1, le24(b, 27)? + 1)),
        _ => None,
    }
}

/// Test images: headers that declare a size, enough for [`inspect`]. Public so integration tests
/// build their corpus from the same encoders.
pub mod samples {
    /// A PNG signature and IHDR declaring `w`×`h`, padded with an IDAT-less body.
    pub fn png(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
        b.extend(13u32.to_be_bytes());
        b.extend(b"IHDR");
        b.extend(w.to_be_bytes());
        b.extend(h.to_be_bytes());
        b.extend([8, 6, 0, 0, 0]);
        b.extend([0, 0, 0, 0]);
        b
    }

    /// A JPEG with an APP0 segment and a baseline SOF0 declaring `w`×`h`.
    pub fn jpeg(w: u16, h: u16) -> Vec<u8> {
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        b.extend(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        b.extend([0xFF, 0xC0, 0x00, 0x11, 0x08]);
        b.extend(h.to_be_bytes());
        b.extend(w.to_be_bytes());
        b.extend([3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        b.extend([0xFF, 0xD9]);
        b
    }

    /// A lossless WebP declaring `w`×`h` (1–16384).
    pub fn webp(w: u32, h: u32) -> Vec<u8> {
        let bits = (w - 1) | (h - 1) << 14;
        let mut chunk = vec![0x2F];
        chunk.extend(bits.to_le_bytes());
        let mut b = b"RIFF".to_vec();
        b.extend(
            u32::try_from(4 + 8 + chunk.len())
                .unwrap_or(0)
                .to_le_bytes(),
        );
        b.extend(b"WEBPVP8L");
        b.extend(u32::try_from(chunk.len()).unwrap_or(0).to_le_bytes());
        b.extend(chunk);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::samples::*;
    use super::*;

    #[test]
    fn each_format_reports_its_declared_size() {
        assert_eq!(
            inspect(&png(300, 200)).unwrap(),
            ImageInfo {
                format: ImageFormat::Png,
                width: 300,
                height: 200
            }
        );
        assert_eq!(
            inspect(&jpeg(640, 480)).unwrap(),
            ImageInfo {
                format: ImageFormat::Jpeg,
                width: 640,
                height: 480
            }
        );
        assert_eq!(
            inspect(&webp(128, 129)).unwrap(),
            ImageInfo {
                format: ImageFormat::Webp,
                width: 128,
                height: 129
            }
        );
    }

    #[test]
    fn below_128_is_image_dimensions_too_small() {
        assert_eq!(
            inspect(&png(127, 500)).unwrap_err().code,
            ReasonCode::ImageDimensionsTooSmall
        );
        assert_eq!(
            inspect(&jpeg(500, 127)).unwrap_err().code,
            ReasonCode::ImageDimensionsTooSmall
        );
        assert!(inspect(&png(128, 128)).is_ok());
    }

    #[test]
    fn huge_declared_canvas_is_refused_before_decoding() {
        assert_eq!(
            inspect(&png(100_000, 100_000)).unwrap_err().code,
            ReasonCode::InvalidImageFormat
        );
        assert_eq!(
            inspect(&webp(16_384, 16_384)).unwrap_err().code,
            ReasonCode::InvalidImageFormat
        );
    }

    #[test]
    fn wrong_magic_bytes_are_invalid_image_format() {
        for bad in [
            &b"GIF89a......"[..],
            b"BM....",
            b"%PDF-1.7",
            b"",
            b"\x89PNX\r\n\x1a\n",
        ] {
            assert_eq!(
                inspect(bad).unwrap_err().code,
                ReasonCode::InvalidImageFormat
            );
        }
        let mut truncated = png(300, 300);
        truncated.truncate(18);
        assert_eq!(
            inspect(&truncated).unwrap_err().code,
            ReasonCode::InvalidImageFormat
        );
    }
}
