//! XML for S3 (restXml) and awsQuery services, and form parameter parsing.
//!
//! [`XmlWriter`] builds documents by appending to a string, escaping all text and attribute
//! values; element names come from code, never from clients. S3 errors are
//! `<Error><Code/><Message/><Resource/><RequestId/></Error>`; awsQuery errors are
//! `<ErrorResponse xmlns=..><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`.

use bytes::Bytes;
use http::Response;
use http::header::{CONTENT_TYPE, HeaderValue};

use crate::error::ApiError;
use crate::json::header_value;

/// The XML declaration every document starts with.
pub const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// A tiny XML builder that escapes text correctly.
#[derive(Debug, Clone, Default)]
pub struct XmlWriter {
    out: String,
}

impl XmlWriter {
    /// An empty document.
    pub fn new() -> XmlWriter {
        XmlWriter::default()
    }

    /// Appends the `<?xml version="1.0" encoding="UTF-8"?>` declaration.
    pub fn decl(&mut self) -> &mut Self {
        self.out.push_str(XML_DECLARATION);
        self
    }

    /// Opens `<name>`.
    pub fn open(&mut self, name: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// Opens `<name xmlns="ns">`.
    pub fn open_with_ns(&mut self, name: &str, ns: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str(" xmlns=\"");
        escape_into(&mut self.out, ns);
        self.out.push_str("\">");
        self
    }

    /// Closes `</name>`.
    pub fn close(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// `<name>text</name>` with `text` escaped.
    pub fn elem(&mut self, name: &str, text: &str) -> &mut Self {
        self.open(name);
        escape_into(&mut self.out, text);
        self.close(name)
    }

    /// `<name>text</name>` when `text` is `Some`, nothing otherwise.
    pub fn opt_elem(&mut self, name: &str, text: Option<&str>) -> &mut Self {
        if let Some(text) = text {
            self.elem(name, text);
        }
        self
    }

    /// `<name/>`.
    pub fn empty(&mut self, name: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str("/>");
        self
    }

    /// Appends already-escaped XML (for fragments built by another writer).
    pub fn raw(&mut self, xml: &str) -> &mut Self {
        self.out.push_str(xml);
        self
    }

    /// The document built so far.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Escapes text for element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\n' | '\t' => out.push(c),
            c if u32::from(c) < 0x20 => {
                out.push_str(&format!("&#x{:X};", u32::from(c)));
            }
            c => out.push(c),
        }
    }
}

fn xml_response(
    status: http::StatusCode,
    body: String,
    content_type: &'static str,
) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// An S3 error: `<Error><Code/><Message/><Resource/><RequestId/></Error>`, content type
/// `application/xml`, `x-amz-request-id` header.
pub fn s3_error_response(err: &ApiError, request_id: &str, resource: &str) -> Response<Bytes> {
    let mut xml = XmlWriter::new();
    xml.decl()
        .open("Error")
        .elem("Code", &err.code)
        .elem("Message", &err.message)
        .elem("Resource", resource)
        .elem("RequestId", request_id)
        .close("Error");
    let mut response = xml_response(err.status, xml.finish(), "application/xml");
    let headers = response.headers_mut();
    headers.insert("x-amz-request-id", header_value(request_id));
    headers.insert("x-amz-id-2", header_value(request_id));
    response
}

/// An awsQuery error: `<ErrorResponse xmlns><Error><Type>Sender</Type><Code/><Message/>
/// </Error><RequestId/></ErrorResponse>` (`Receiver` for 5xx), content type `text/xml`.
pub fn query_error_response(err: &ApiError, request_id: &str, xmlns: &str) -> Response<Bytes> {
    let fault = if err.is_sender_fault() {
        "Sender"
    } else {
        "Receiver"
    };
    let mut xml = XmlWriter::new();
    xml.decl()
        .open_with_ns("ErrorResponse", xmlns)
        .open("Error")
        .elem("Type", fault)
        .elem("Code", &err.code)
        .elem("Message", &err.message)
        .close("Error")
        .elem("RequestId", request_id)
        .close("ErrorResponse");
    let mut response = xml_response(err.status, xml.finish(), "text/xml");
    response
        .headers_mut()
        .insert("x-amzn-requestid", header_value(request_id));
    response
}

/// An awsQuery success: `<{Op}Response xmlns><{Op}Result>{result_xml}</{Op}Result>
/// <ResponseMetadata><RequestId/></ResponseMetadata></{Op}Response>`. `result_xml` must be
/// escaped XML (build it with [`XmlWriter`]); `None` leaves the result element out.
pub fn query_response(
    operation: &str,
    xmlns: &str,
    request_id: &str,
    result_xml: Option<&str>,
) -> Response<Bytes> {
    query_response_wrapped(
        operation,
        &format!("{operation}Result"),
        xmlns,
        request_id,
        result_xml,
    )
}

/// [`query_response`] with the result element named `result_wrapper` (the model's
/// `resultWrapper`) instead of `{Op}Result`.
pub fn query_response_wrapped(
    operation: &str,
    result_wrapper: &str,
    xmlns: &str,
    request_id: &str,
    result_xml: Option<&str>,
) -> Response<Bytes> {
    let response_name = format!("{operation}Response");
    let result_name = result_wrapper;
    let mut xml = XmlWriter::new();
    xml.decl().open_with_ns(&response_name, xmlns);
    if let Some(result) = result_xml {
        xml.open(result_name).raw(result).close(result_name);
    }
    xml.open("ResponseMetadata")
        .elem("RequestId", request_id)
        .close("ResponseMetadata")
        .close(&response_name);
    let mut response = xml_response(http::StatusCode::OK, xml.finish(), "text/xml");
    response
        .headers_mut()
        .insert("x-amzn-requestid", header_value(request_id));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn writer_escapes_text_and_namespace() {
        let mut xml = XmlWriter::new();
        xml.decl()
            .open_with_ns(
                "ListBucketResult",
                "http://s3.amazonaws.com/doc/2006-03-01/\"x",
            )
            .elem("Key", "a<b>&\"c'\r\n\u{1}é✓")
            .empty("IsTruncated")
            .opt_elem("Skipped", None)
            .opt_elem("Prefix", Some(""))
            .close("ListBucketResult");
        assert_eq!(
            xml.finish(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/&quot;x\"><Key>a&lt;b&gt;&amp;&quot;c&apos;&#13;\n&#x1;é✓</Key><IsTruncated/><Prefix></Prefix></ListBucketResult>"
        );
    }

    #[test]
    fn escaped_output_parses_back_with_quick_xml() {
        let nasty = "]]><![CDATA[ & <x/> \"'";
        let mut xml = XmlWriter::new();
        xml.open("A").elem("B", nasty).close("A");
        let doc = xml.finish();
        let mut reader = quick_xml::Reader::from_str(&doc);
        let mut texts = Vec::new();
        loop {
            match reader.read_event().expect("well-formed xml") {
                quick_xml::events::Event::Text(text) => {
                    texts.push(text.decode().expect("utf8").into_owned());
                }
                quick_xml::events::Event::GeneralRef(reference) => {
                    let name = reference.decode().expect("utf8").into_owned();
                    texts.push(format!("&{name};"));
                }
                quick_xml::events::Event::Eof => break,
                _ => {}
            }
        }
        let joined = texts.concat();
        let unescaped = quick_xml::escape::unescape(&joined).expect("valid escapes");
        assert_eq!(unescaped, nasty);
    }

    #[test]
    fn s3_error_shape() {
        let err = ApiError::new(
            "NoSuchKey",
            StatusCode::NOT_FOUND,
            "The specified key does not exist.",
        );
        let response = s3_error_response(&err, "REQ123", "/bucket/a&b");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/xml");
        assert_eq!(response.headers()["x-amz-request-id"], "REQ123");
        assert_eq!(
            std::str::from_utf8(response.body()).expect("utf8"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Resource>/bucket/a&amp;b</Resource><RequestId>REQ123</RequestId></Error>"
        );
    }

    #[test]
    fn query_error_shape_and_fault() {
        let err = ApiError::client("InvalidParameter", "Invalid parameter: TopicArn");
        let response =
            query_error_response(&err, "rid", "http://sns.amazonaws.com/doc/2010-03-31/");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[CONTENT_TYPE], "text/xml");
        assert_eq!(
            std::str::from_utf8(response.body()).expect("utf8"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>Invalid parameter: TopicArn</Message></Error><RequestId>rid</RequestId></ErrorResponse>"
        );
        let internal = query_error_response(&ApiError::internal(), "rid", "ns");
        let text = std::str::from_utf8(internal.body())
            .expect("utf8")
            .to_owned();
        assert!(text.contains("<Type>Receiver</Type>"), "{text}");
    }

    #[test]
    fn query_success_shape() {
        let mut result = XmlWriter::new();
        result.elem("Arn", "arn:aws:iam::123456789012:root");
        let response = query_response(
            "GetCallerIdentity",
            "https://sts.amazonaws.com/doc/2011-06-15/",
            "rid",
            Some(&result.finish()),
        );
        assert_eq!(
            std::str::from_utf8(response.body()).expect("utf8"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:root</Arn></GetCallerIdentityResult><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
        );
    }
}
