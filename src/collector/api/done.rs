//! A handler's answer on its way out ([`Done`]), with what the access log line needs.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

/// A response on its way out, with what the access log line needs.
pub(crate) struct Done {
    pub response: Response<Full<Bytes>>,
    /// Bytes of report received (decompressed).
    pub received: usize,
    pub cluster: Option<String>,
    /// A report answered 204 without being stored again.
    pub duplicate: bool,
    /// What was cut to the report's limits, for the log (`nodes.osImage:1`).
    pub clamped: Option<String>,
}

impl Done {
    pub(crate) fn new(
        status: StatusCode,
        content_type: &'static str,
        body: impl Into<Bytes>,
    ) -> Done {
        let mut response = Response::new(Full::new(body.into()));
        *response.status_mut() = status;
        if status != StatusCode::NO_CONTENT {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        Done {
            response,
            received: 0,
            cluster: None,
            duplicate: false,
            clamped: None,
        }
    }

    pub(crate) fn text(status: StatusCode, body: impl Into<Bytes>) -> Done {
        Done::new(status, "text/plain; charset=utf-8", body)
    }

    /// `{"error": "..."}`.
    pub(crate) fn error(status: StatusCode, message: &str) -> Done {
        let body = serde_json::json!({ "error": message }).to_string();
        Done::new(status, "application/json", body)
    }

    pub(crate) fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Done {
        self.response.headers_mut().insert(name, value);
        self
    }

    /// Close the connection after this response (the body may not have been read).
    pub(crate) fn close(self) -> Done {
        self.header(header::CONNECTION, HeaderValue::from_static("close"))
    }
}
