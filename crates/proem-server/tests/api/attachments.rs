//! Attachments: upload as multipart and JSON, validation corpora, caps at their boundaries,
//! quotas, dedupe, download, soft-delete with refund. Every rejection leaves no row and no blob.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proem_core::attachments::image::samples;
use proem_testkit::TestServer;
use serde_json::{Value, json};

use super::support::expect_problem;

const MB: usize = 1024 * 1024;

struct Fixture {
    server: TestServer,
    key: String,
    user_id: String,
    prompt: String,
}

async fn fixture() -> Fixture {
    fixture_with(|_| {}).await
}

async fn fixture_with(adjust: impl FnOnce(&mut proem_core::Config)) -> Fixture {
    let server = TestServer::start_with(|c| {
        c.rate_limits.read_per_key = 100_000;
        c.rate_limits.read_per_user = 100_000;
        adjust(c);
    })
    .await;
    let (user, key) = server.user_with_key(&["read", "write"]).await;
    let prompt = server.create_prompt(&key, "With files").await;
    Fixture {
        server,
        key,
        user_id: user.id,
        prompt,
    }
}

impl Fixture {
    fn upload_url(&self) -> String {
        self.server.at(&format!(
            "/api/v2/public/prompts/{}/attachments",
            self.prompt
        ))
    }

    async fn upload_json(
        &self,
        filename: Option<&str>,
        kind: Option<&str>,
        bytes: &[u8],
    ) -> reqwest::Response {
        let mut body = json!({ "base64": STANDARD.encode(bytes) });
        if let Some(f) = filename {
            body["filename"] = json!(f);
        }
        if let Some(k) = kind {
            body["type"] = json!(k);
        }
        self.server
            .http
            .post(self.upload_url())
            .header("x-api-key", &self.key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn upload_multipart(&self, filename: &str, bytes: Vec<u8>) -> reqwest::Response {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(filename.to_owned()),
        );
        self.server
            .http
            .post(self.upload_url())
            .header("x-api-key", &self.key)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    async fn list(&self) -> Vec<Value> {
        let r = self
            .server
            .http
            .get(self.upload_url())
            .header("x-api-key", &self.key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn user_bytes(&self) -> i64 {
        proem_core::store::attachments::user_bytes(&sqlx_pool(&self.server).await, &self.user_id)
            .await
            .unwrap()
    }

    /// Nothing was stored: no attachment rows, no blobs (SQLite: the blob folder is on disk).
    async fn assert_nothing_stored(&self) {
        assert!(self.list().await.is_empty(), "a rejected upload left a row");
        assert!(
            self.server.blob_files().is_empty(),
            "a rejected upload left a blob"
        );
        assert_eq!(
            self.user_bytes().await,
            0,
            "a rejected upload consumed quota"
        );
    }
}

async fn sqlx_pool(server: &TestServer) -> sqlx::AnyPool {
    sqlx::AnyPool::connect(&server.db.url).await.unwrap()
}

fn padded_png(total: usize) -> Vec<u8> {
    let mut b = samples::png(256, 256);
    b.resize(total, 0);
    b
}

#[tokio::test]
async fn multipart_upload_creates_an_attachment_and_download_returns_its_bytes() {
    let f = fixture().await;
    let r = f
        .upload_multipart("notes.txt", b"hello attachments".to_vec())
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["filename"], "notes.txt");
    assert_eq!(created["type"], "text");
    assert_eq!(created["sizeBytes"], 17);
    assert!(created["createdAtUtc"].as_str().unwrap().ends_with('Z'));
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("att_"));
    let r = f
        .server
        .http
        .get(f.server.at(&format!("/api/v2/public/attachments/{id}")))
        .header("x-api-key", &f.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"hello attachments");
    assert_eq!(f.list().await.len(), 1);
}

#[tokio::test]
async fn json_upload_of_an_image_is_sniffed_and_served_with_its_content_type() {
    let f = fixture().await;
    let png = samples::png(300, 200);
    let r = f.upload_json(Some("cat.png"), None, &png).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["type"], "image");
    assert_eq!(created["contentType"], "image/png");
    assert_eq!(
        (created["width"].as_i64(), created["height"].as_i64()),
        (Some(300), Some(200))
    );
    let id = created["id"].as_str().unwrap();
    let r = f
        .server
        .http
        .get(f.server.at(&format!("/api/v2/public/attachments/{id}")))
        .header("x-api-key", &f.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.unwrap().as_ref(), png.as_slice());
}

#[tokio::test]
async fn missing_filename_is_invalid_params() {
    let f = fixture().await;
    expect_problem(
        f.upload_json(None, Some("text"), b"x").await,
        400,
        "invalid_params",
    )
    .await;
    expect_problem(
        f.upload_json(Some(""), Some("text"), b"x").await,
        400,
        "invalid_params",
    )
    .await;
    f.assert_nothing_stored().await;
}

/// More than a hundred hostile names: separators, traversal, NUL and every C0 control, DEL,
/// bidirectional and invisible formatting characters, whitespace variants, overlong names.
fn hostile_filenames() -> Vec<String> {
    let mut names: Vec<String> = [
        "..",
        ".",
        "...",
        ".....",
        "../etc/passwd",
        "..\\..\\windows\\win.ini",
        "a/b",
        "a\\b",
        "/",
        "\\",
        "/abs.txt",
        "dir/",
        "C:\\x.txt",
        "./a",
        "a/..",
        "\\\\server\\share",
        "a\0",
        "\0",
        "a\0.txt",
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        " a.txt",
        "a.txt ",
        "\ta.txt",
        "a.txt\n",
        "\u{00A0}a.txt",
        "a.txt\u{00A0}",
        "\u{3000}",
        "\u{2003}a",
        "a\u{2009}",
        "\u{FEFF}a.txt",
        "\u{200B}",
        "a\u{200B}.txt",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for c in (0x01u8..0x20).chain([0x7F]) {
        names.push(format!("a{}b.txt", char::from(c)));
    }
    for c in [
        '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
        '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}', '\u{2028}', '\u{2029}',
        '\u{2060}', '\u{00AD}', '\u{0085}', '\u{009B}',
    ] {
        names.push(format!("invoice{c}fdp.exe"));
    }
    // Unicode space separators, leading or trailing.
    for c in ('\u{2000}'..='\u{200A}').chain(['\u{205F}', '\u{1680}', '\u{202F}']) {
        names.push(format!("{c}report.txt"));
        names.push(format!("report.txt{c}"));
    }
    for n in [256, 300, 1000, 5000] {
        names.push("a".repeat(n));
    }
    names.push("é".repeat(128));
    names.push(format!("{}.txt", "x".repeat(252)));
    names.push("ab/".repeat(10));
    names.push("....//....//x".into());
    names
}

#[tokio::test]
async fn hostile_filename_corpus_is_rejected_with_invalid_filename_and_nothing_is_written() {
    let f = fixture().await;
    let corpus = hostile_filenames();
    assert!(corpus.len() >= 100, "corpus has {} names", corpus.len());
    for name in &corpus {
        let r = f.upload_json(Some(name), Some("text"), b"content").await;
        let body = expect_problem(r, 400, "invalid_filename").await;
        assert_eq!(body["invalid_params"][0]["name"], "filename", "{name:?}");
    }
    f.assert_nothing_stored().await;
}

#[tokio::test]
async fn filename_at_255_bytes_is_accepted() {
    let f = fixture().await;
    let name = format!("{}.txt", "x".repeat(251));
    assert_eq!(name.len(), 255);
    assert_eq!(
        f.upload_json(Some(&name), Some("text"), b"ok")
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn wrong_magic_bytes_and_truncated_headers_are_invalid_image_format() {
    let f = fixture().await;
    let mut truncated_png = samples::png(300, 300);
    truncated_png.truncate(20);
    let mut bad_jpeg = samples::jpeg(300, 300);
    bad_jpeg.truncate(8);
    let corpus: Vec<(&str, Vec<u8>)> = vec![
        ("gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00".to_vec()),
        ("bmp", b"BM\x00\x00\x00\x00\x00\x00\x00\x00".to_vec()),
        ("pdf", b"%PDF-1.7\n".to_vec()),
        ("zip", b"PK\x03\x04rest".to_vec()),
        ("svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec()),
        ("text", b"just text".to_vec()),
        ("empty", Vec::new()),
        ("png-typo", b"\x89PNX\r\n\x1a\n0000000000000000".to_vec()),
        ("png-truncated", truncated_png),
        ("jpeg-truncated", bad_jpeg),
        ("riff-not-webp", b"RIFF\x10\x00\x00\x00WAVEfmt ".to_vec()),
        (
            "webp-unknown-chunk",
            b"RIFF\x10\x00\x00\x00WEBPXXXX\x00\x00\x00\x00".to_vec(),
        ),
    ];
    for (name, bytes) in corpus {
        let r = f
            .upload_json(Some(&format!("{name}.img")), Some("image"), &bytes)
            .await;
        expect_problem(r, 400, "invalid_image_format").await;
    }
    f.assert_nothing_stored().await;
}

#[tokio::test]
async fn decompression_bomb_headers_are_refused_before_decoding() {
    let f = fixture().await;
    let corpus: Vec<(&str, Vec<u8>)> = vec![
        ("png-100k", samples::png(100_000, 100_000)),
        ("png-wide", samples::png(1_000_000, 200)),
        ("png-max", samples::png(u32::MAX, u32::MAX)),
        ("jpeg-64k", samples::jpeg(65_535, 65_535)),
        ("webp-16k", samples::webp(16_384, 16_384)),
    ];
    for (name, bytes) in corpus {
        let r = f
            .upload_json(Some(&format!("{name}.img")), Some("image"), &bytes)
            .await;
        let body = expect_problem(r, 400, "invalid_image_format").await;
        assert_eq!(
            body["invalid_params"][0]["reason"], "dimensions_too_large",
            "{name}"
        );
    }
    f.assert_nothing_stored().await;
}

#[tokio::test]
async fn image_below_128_pixels_is_image_dimensions_too_small() {
    let f = fixture().await;
    for bytes in [
        samples::png(127, 128),
        samples::jpeg(128, 127),
        samples::webp(64, 64),
    ] {
        expect_problem(
            f.upload_json(Some("small.img"), Some("image"), &bytes)
                .await,
            400,
            "image_dimensions_too_small",
        )
        .await;
    }
    f.assert_nothing_stored().await;
    assert_eq!(
        f.upload_json(Some("ok.png"), Some("image"), &samples::png(128, 128))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn text_attachment_cap_is_5_mb() {
    let f = fixture().await;
    expect_problem(
        f.upload_json(Some("big.txt"), Some("text"), &vec![b'a'; 5 * MB + 1])
            .await,
        413,
        "field_too_large",
    )
    .await;
    f.assert_nothing_stored().await;
    assert_eq!(
        f.upload_json(Some("cap.txt"), Some("text"), &vec![b'a'; 5 * MB])
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn image_attachment_cap_is_10_mb() {
    let f = fixture().await;
    expect_problem(
        f.upload_multipart("big.png", padded_png(10 * MB + 1)).await,
        413,
        "field_too_large",
    )
    .await;
    f.assert_nothing_stored().await;
    assert_eq!(
        f.upload_multipart("cap.png", padded_png(10 * MB))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn streamed_upload_past_the_cap_is_refused_before_the_body_ends() {
    let f = fixture().await;
    // 30 MB under the 32 MB body limit: the handler stops reading at 10 MB + 1.
    let r = f.upload_multipart("huge.png", padded_png(30 * MB)).await;
    expect_problem(r, 413, "field_too_large").await;
    f.assert_nothing_stored().await;
}

#[tokio::test]
async fn twenty_attachments_per_prompt_then_storage_quota_exceeded() {
    let f = fixture().await;
    for i in 0..20 {
        assert_eq!(
            f.upload_json(
                Some(&format!("f{i}.txt")),
                Some("text"),
                format!("{i}").as_bytes()
            )
            .await
            .status(),
            201
        );
    }
    expect_problem(
        f.upload_json(Some("f20.txt"), Some("text"), b"20").await,
        413,
        "storage_quota_exceeded",
    )
    .await;
    assert_eq!(f.list().await.len(), 20);
}

#[tokio::test]
async fn fifty_megabytes_per_prompt_then_storage_quota_exceeded() {
    let f = fixture().await;
    for i in 0..5 {
        let mut png = padded_png(10 * MB);
        png[100] = i;
        assert_eq!(
            f.upload_multipart(&format!("p{i}.png"), png).await.status(),
            201
        );
    }
    let blobs_before = f.server.blob_files().len();
    expect_problem(
        f.upload_json(Some("one-more.txt"), Some("text"), b"x")
            .await,
        413,
        "storage_quota_exceeded",
    )
    .await;
    assert_eq!(f.list().await.len(), 5);
    assert_eq!(f.server.blob_files().len(), blobs_before);
}

#[tokio::test]
async fn one_gigabyte_per_user_then_storage_quota_exceeded() {
    let f = fixture().await;
    let almost_full = 1024 * MB - 10;
    f.server
        .sql(&format!(
            "INSERT INTO user_storage (user_id, bytes) VALUES ('{}', {almost_full})",
            f.user_id
        ))
        .await;
    expect_problem(
        f.upload_json(Some("eleven.txt"), Some("text"), &[b'a'; 11])
            .await,
        413,
        "storage_quota_exceeded",
    )
    .await;
    assert!(f.list().await.is_empty());
    assert_eq!(
        f.upload_json(Some("ten.txt"), Some("text"), &[b'a'; 10])
            .await
            .status(),
        201
    );
    assert_eq!(f.user_bytes().await, 1024 * MB as i64);
}

#[tokio::test]
async fn reuploading_the_same_file_returns_the_existing_attachment_and_consumes_no_quota() {
    let f = fixture().await;
    let first: Value = f
        .upload_json(Some("same.txt"), Some("text"), b"same bytes")
        .await
        .json()
        .await
        .unwrap();
    let bytes_after_first = f.user_bytes().await;
    let r = f.upload_multipart("same.txt", b"same bytes".to_vec()).await;
    assert_eq!(r.status(), 200);
    let second: Value = r.json().await.unwrap();
    assert_eq!(second["id"], first["id"]);
    assert_eq!(f.user_bytes().await, bytes_after_first);
    assert_eq!(f.list().await.len(), 1);
    // Same bytes under another name is a new attachment.
    assert_eq!(
        f.upload_json(Some("other.txt"), Some("text"), b"same bytes")
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn deleting_an_attachment_refunds_its_bytes_once_and_is_idempotent() {
    let f = fixture().await;
    let created: Value = f
        .upload_json(Some("a.txt"), Some("text"), b"twelve bytes")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(f.user_bytes().await, 12);
    let url = f.server.at(&format!(
        "/api/v2/public/attachments/{}",
        created["id"].as_str().unwrap()
    ));
    for _ in 0..2 {
        let r = f
            .server
            .http
            .delete(&url)
            .header("x-api-key", &f.key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    assert_eq!(f.user_bytes().await, 0);
    assert!(f.list().await.is_empty());
    let r = f
        .server
        .http
        .get(&url)
        .header("x-api-key", &f.key)
        .send()
        .await
        .unwrap();
    expect_problem(r, 404, "attachment_not_found").await;
}

#[tokio::test]
async fn another_users_attachment_is_attachment_not_found() {
    let f = fixture().await;
    let created: Value = f
        .upload_json(Some("a.txt"), Some("text"), b"secret")
        .await
        .json()
        .await
        .unwrap();
    let (_, other) = f.server.user_with_key(&["read", "write"]).await;
    let url = f.server.at(&format!(
        "/api/v2/public/attachments/{}",
        created["id"].as_str().unwrap()
    ));
    expect_problem(
        f.server
            .http
            .get(&url)
            .header("x-api-key", &other)
            .send()
            .await
            .unwrap(),
        404,
        "attachment_not_found",
    )
    .await;
    expect_problem(
        f.server
            .http
            .delete(&url)
            .header("x-api-key", &other)
            .send()
            .await
            .unwrap(),
        404,
        "attachment_not_found",
    )
    .await;
    let missing = f.server.at("/api/v2/public/attachments/att_missing");
    expect_problem(
        f.server
            .http
            .get(&missing)
            .header("x-api-key", &f.key)
            .send()
            .await
            .unwrap(),
        404,
        "attachment_not_found",
    )
    .await;
    let r = f
        .server
        .http
        .get(f.upload_url())
        .header("x-api-key", &other)
        .send()
        .await
        .unwrap();
    expect_problem(r, 404, "prompt_not_found").await;
}

#[tokio::test]
async fn deleting_the_prompt_hides_its_attachments() {
    let f = fixture().await;
    let created: Value = f
        .upload_json(Some("a.txt"), Some("text"), b"x")
        .await
        .json()
        .await
        .unwrap();
    let r = f
        .server
        .http
        .delete(f.server.at(&format!("/api/v2/public/prompts/{}", f.prompt)))
        .header("x-api-key", &f.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = f
        .server
        .http
        .get(f.upload_url())
        .header("x-api-key", &f.key)
        .send()
        .await
        .unwrap();
    expect_problem(r, 404, "prompt_not_found").await;
    let url = f.server.at(&format!(
        "/api/v2/public/attachments/{}",
        created["id"].as_str().unwrap()
    ));
    expect_problem(
        f.server
            .http
            .get(&url)
            .header("x-api-key", &f.key)
            .send()
            .await
            .unwrap(),
        404,
        "attachment_not_found",
    )
    .await;
}

#[tokio::test]
async fn text_attachment_must_be_utf8_and_type_must_be_text_or_image() {
    let f = fixture().await;
    expect_problem(
        f.upload_json(Some("bin.txt"), Some("text"), &[0xFF, 0xFE, 0x00])
            .await,
        400,
        "invalid_params",
    )
    .await;
    expect_problem(
        f.upload_json(Some("x.txt"), Some("video"), b"x").await,
        400,
        "invalid_params",
    )
    .await;
    f.assert_nothing_stored().await;
}

#[tokio::test]
async fn upload_in_another_media_type_is_unsupported_media_type() {
    let f = fixture().await;
    let r = f
        .server
        .http
        .post(f.upload_url())
        .header("x-api-key", &f.key)
        .header("content-type", "text/plain")
        .body("raw")
        .send()
        .await
        .unwrap();
    expect_problem(r, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn invalid_base64_is_invalid_params() {
    let f = fixture().await;
    let r = f
        .server
        .http
        .post(f.upload_url())
        .header("x-api-key", &f.key)
        .json(&json!({"filename": "a.txt", "base64": "***not base64***"}))
        .send()
        .await
        .unwrap();
    let body = expect_problem(r, 400, "invalid_params").await;
    assert_eq!(body["invalid_params"][0]["name"], "base64");
}

#[tokio::test]
async fn read_only_key_cannot_upload_scope_required() {
    let f = fixture().await;
    let (_, reader) = f.server.user_with_key(&["read"]).await;
    let r = f
        .server
        .http
        .post(f.upload_url())
        .header("x-api-key", reader)
        .json(&json!({"filename": "a.txt", "base64": "eA=="}))
        .send()
        .await
        .unwrap();
    expect_problem(r, 403, "scope_required").await;
}
