//! Pseudo-random garbage through every decoder: errors are fine, panics are not.

use std::collections::HashMap;

use opentrail_api::{
    ServiceModel, Side, decode_aws_chunked, parse_json_body, parse_query_params, route, verify,
};

/// xorshift64*: deterministic, dependency-free randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).expect("usize fits u64"))
            .expect("below n fits usize")
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn bytes(&mut self, alphabet: &[u8], max_len: usize) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len())])
            .collect()
    }
}

const PIECES: &[&str] = &[
    "AWS4-HMAC-SHA256",
    " ",
    "Credential=",
    "AKID",
    "/",
    "20250314",
    "us-east-1",
    "s3",
    "aws4_request",
    ",",
    "SignedHeaders=",
    "host",
    ";",
    "x-amz-date",
    "Signature=",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "=",
    "%",
    "%2F",
    "&",
    "X-Amz-Expires=",
    "999999999999999999999",
    "X-Amz-Date=",
    "99991231T235959Z",
    "X-Amz-Algorithm=AWS4-HMAC-SHA256",
    "X-Amz-Credential=AKID%2F20250314%2Fus-east-1%2Fs3%2Faws4_request",
    "X-Amz-SignedHeaders=host",
    "X-Amz-Signature=00",
    "Action=",
    "\r\n",
    ";chunk-signature=",
    "0",
    "ff",
    "x-amz-checksum-crc32:",
    "\u{e9}",
];

fn garbage(rng: &mut Rng, max_pieces: usize) -> String {
    let count = rng.below(max_pieces);
    (0..count).map(|_| rng.pick(PIECES)).collect()
}

#[test]
fn random_requests_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let secrets = HashMap::from([("AKID".to_owned(), "secret".to_owned())]);
    let now = time::macros::datetime!(2025-03-14 15:09:26 UTC);
    let mut outcomes = (0usize, 0usize);
    for _ in 0..3000 {
        let authorization = garbage(&mut rng, 14);
        let query = garbage(&mut rng, 10)
            .replace(['\r', '\n', ' '], "")
            .replace('\u{e9}', "%C3%A9");
        let uri = format!("/bucket/key?{query}");
        let mut builder = http::Request::builder()
            .method(rng.pick(&["GET", "PUT", "POST"]))
            .uri(uri.as_str());
        if let Ok(value) = http::HeaderValue::from_str(&authorization) {
            builder = builder.header("authorization", value);
        }
        builder = builder
            .header(
                "x-amz-date",
                rng.pick(&[
                    "20250314T150926Z",
                    "garbage",
                    "99991231T235959Z",
                    "00000101T000000Z",
                ]),
            )
            .header(
                "x-amz-target",
                rng.pick(&["", ".", "AWSEvents.PutEvents", "a.b.c"]),
            )
            .header(
                "content-type",
                rng.pick(&[
                    "application/x-www-form-urlencoded",
                    "application/x-amz-json-1.0",
                    "",
                ]),
            );
        if rng.below(4) == 0 {
            builder = builder.header(
                "date",
                rng.pick(&[
                    "Fri, 31 Dec 9999 23:30:00 -0100",
                    "nope",
                    "Fri, 14 Mar 2025 15:09:26 GMT",
                ]),
            );
        }
        if rng.below(4) == 0 {
            builder = builder.header(
                "x-amz-content-sha256",
                rng.pick(&[
                    "UNSIGNED-PAYLOAD",
                    "zz",
                    "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                ]),
            );
        }
        let Ok(request) = builder.body(()) else {
            continue;
        };
        let (parts, ()) = request.into_parts();
        let body = garbage(&mut rng, 8).into_bytes();
        let _ = route(&parts, &body);
        match verify(&parts, &body, &secrets, now) {
            Ok(_) => outcomes.0 += 1,
            Err(err) => {
                outcomes.1 += 1;
                // Every error maps to every protocol without panicking.
                let _ = (err.to_json_error(), err.to_s3_error(), err.to_query_error());
            }
        }
    }
    assert!(outcomes.1 > 0, "garbage must be rejected: {outcomes:?}");
}

#[test]
fn random_bodies_never_panic() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let model = ServiceModel::from_json(include_str!("../fixtures/cloudtrail-2013-11-01.json"))
        .expect("model parses");
    let operations: Vec<String> = model
        .operation_names()
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let json_alphabet = br#"{}[]":,0123456789.-eE truefalsnul\"abcXYZ"#;
    for _ in 0..3000 {
        let chunked = garbage(&mut rng, 12).into_bytes();
        let _ = decode_aws_chunked(&chunked, None);
        let raw = rng.bytes(
            &[b'0', b'1', b'a', b'f', b'\r', b'\n', b';', b':', b'x', 0xff],
            40,
        );
        let _ = decode_aws_chunked(&raw, None);
        let _ = parse_query_params(&raw);

        let json = rng.bytes(json_alphabet, 60);
        if let Ok(value) = parse_json_body(&json) {
            let operation = &operations[rng.below(operations.len())];
            let _ = model.validate_input(operation, &value);
            let _ = model.record_elements(operation, Side::Input, &value);
            let _ = model.record_elements(operation, Side::Output, &value);
        }
    }
    // Structurally plausible inputs with wrong types and sizes, for every operation.
    let members = [
        serde_json::json!(null),
        serde_json::json!(""),
        serde_json::json!("x"),
        serde_json::json!(-1),
        serde_json::json!(1.5),
        serde_json::json!(u64::MAX),
        serde_json::json!(true),
        serde_json::json!([]),
        serde_json::json!([{}]),
        serde_json::json!({}),
        serde_json::json!({"k": [null]}),
    ];
    let names = [
        "Name",
        "TrailName",
        "MaxResults",
        "LookupAttributes",
        "EventSelectors",
        "TagsList",
        "StartTime",
        "Query",
        "AdvancedEventSelectors",
        "ResourceId",
    ];
    for operation in &operations {
        for name in names {
            for member in &members {
                let input = serde_json::json!({ name: member });
                let _ = model.validate_input(operation, &input);
                let _ = model.record_elements(operation, Side::Input, &input);
                let _ = model.record_elements(operation, Side::Output, &input);
            }
        }
    }
}
