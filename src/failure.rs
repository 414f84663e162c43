//! Why a request failed, classified once: where the fault lies (the client,
//! the upstream, tern), what it was, and whether the request may be sent
//! again. Everything else follows from the class, in one place each: the
//! status the client gets (`status`), the words in the error log
//! (`cause`), and the metrics class (through the status; see
//! `metrics::class`). The exchange, the head reader and the request checks
//! all speak this one type, so a status is never chosen twice.
//!
//! Refusals of a request that is merely not allowed (no route, a limit, a
//! method a route doesn't take) are not failures: they are answers tern
//! gives in the upstream's place (`route::Answer`, `limits`).

/// Where the fault lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Client,
    Upstream,
    /// tern itself: no server to send the request to.
    Tern,
}

/// Whether a failed request may be sent again (to the same server on a
/// fresh connection, or to another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Not by tern.
    Never,
    /// Nothing reached the server: always safe.
    Always,
    /// The server may have acted on it: only an idempotent request whose
    /// body can be sent again (tern's rule: none).
    IfIdempotent,
}

/// One failure of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    // The client's.
    /// The head or body breaks HTTP/1.1's grammar or a framing rule.
    Malformed,
    /// The request target is over `max_uri_bytes`.
    UriTooLong,
    /// The head is over `max_head_bytes` or `max_headers`.
    HeadTooLarge,
    /// The body is over `max_body_bytes` (said by its Content-Length, or
    /// found while a chunked one streamed).
    BodyTooLarge,
    /// A transfer coding tern doesn't implement.
    CodingNotImplemented,
    /// Not HTTP/1.0 or 1.1.
    VersionNotSupported,
    /// CONNECT and other authority-form requests: tern is no forward proxy.
    MethodNotAllowed,
    /// The head didn't arrive whole within the header timeout.
    HeadTimedOut,
    /// A small body, gathered before any upstream is chosen, stopped
    /// coming for the client timeout (nginx's `client_body_timeout`).
    BodyTimedOut,
    /// The client left while its request waited for the upstream.
    ClientLeft,
    /// The client stopped sending its body, or reading the response,
    /// part-way: nothing can be answered.
    ClientStalled,
    // The upstream's.
    /// The connect was refused or reset, or the TLS handshake failed.
    ConnectFailed,
    /// The connect took longer than `timeouts.connect`.
    ConnectTimedOut,
    /// Writing the request to the upstream failed.
    SendFailed,
    /// The upstream stopped taking the request's bytes for `timeouts.server`.
    SendTimedOut,
    /// The upstream closed the connection without a response byte.
    NoResponse,
    /// No response head within `timeouts.server`.
    ResponseTimedOut,
    /// The response head broke HTTP/1.1's rules (or a 101 no upgrade was
    /// asked for, or more interim responses came than
    /// `relay::MAX_INTERIM_RESPONSES`).
    BadResponse,
    /// The response started but could not finish.
    ResponseCut,
    // tern's.
    /// No live server, or the queue wait for a free one ran out.
    NoServer,
}

/// The status logged for a request whose client left before its answer
/// (nginx's 499 "client closed request"; no client ever receives it).
pub const CLIENT_CLOSED: u16 = 499;

impl Failure {
    pub fn source(self) -> Source {
        use Failure::*;
        match self {
            Malformed | UriTooLong | HeadTooLarge | BodyTooLarge | CodingNotImplemented
            | VersionNotSupported | MethodNotAllowed | HeadTimedOut | BodyTimedOut | ClientLeft
            | ClientStalled => Source::Client,
            ConnectFailed | ConnectTimedOut | SendFailed | SendTimedOut | NoResponse
            | ResponseTimedOut | BadResponse | ResponseCut => Source::Upstream,
            NoServer => Source::Tern,
        }
    }

    /// The status the client is answered with, and the access log and the
    /// metrics count (499 and 0 reach no client: a log line and a class).
    pub fn status(self) -> u16 {
        use Failure::*;
        match self {
            Malformed => 400,
            UriTooLong => 414,
            HeadTooLarge => 431,
            BodyTooLarge => 413,
            CodingNotImplemented => 501,
            VersionNotSupported => 505,
            MethodNotAllowed => 405,
            HeadTimedOut | BodyTimedOut => 408,
            ClientLeft => CLIENT_CLOSED,
            ClientStalled | ResponseCut => 0,
            ConnectFailed | SendFailed | NoResponse | BadResponse => 502,
            ConnectTimedOut | SendTimedOut | ResponseTimedOut => 504,
            NoServer => 503,
        }
    }

    /// Whether the client can still be told: nothing of a response was sent
    /// and the client is still there.
    pub fn answerable(self) -> bool {
        !matches!(
            self,
            Failure::ClientLeft | Failure::ClientStalled | Failure::ResponseCut
        )
    }

    pub fn retry(self) -> Retry {
        use Failure::*;
        match self {
            ConnectFailed | ConnectTimedOut => Retry::Always,
            SendFailed | SendTimedOut | NoResponse => Retry::IfIdempotent,
            _ => Retry::Never,
        }
    }

    /// What happened, in the error log's words.
    pub fn cause(self) -> &'static str {
        use Failure::*;
        match self {
            Malformed => "malformed request",
            UriTooLong => "request target too long",
            HeadTooLarge => "request head too large",
            BodyTooLarge => "request body larger than max_body_bytes",
            CodingNotImplemented => "transfer coding not implemented",
            VersionNotSupported => "HTTP version not supported",
            MethodNotAllowed => "method not allowed",
            HeadTimedOut => "request head not received within the header timeout",
            BodyTimedOut => "request body stopped coming for the client timeout",
            ClientLeft => "client closed its connection while the request waited",
            ClientStalled => "client stopped part-way through the exchange",
            ConnectFailed => "connect failed",
            ConnectTimedOut => "connect timed out",
            SendFailed => "sending the request failed",
            SendTimedOut => "took no more of the request within the server timeout",
            NoResponse => "closed the connection without a response",
            ResponseTimedOut => "sent no response head within the server timeout",
            BadResponse => "sent an invalid response head",
            ResponseCut => "response cut short",
            NoServer => "no live server to take the request",
        }
    }
}

impl From<crate::http::request::RequestError> for Failure {
    fn from(err: crate::http::request::RequestError) -> Self {
        use crate::http::request::RequestError;
        match err {
            RequestError::BadRequest(_) => Failure::Malformed,
            RequestError::UriTooLong => Failure::UriTooLong,
            RequestError::HeadTooLarge => Failure::HeadTooLarge,
            RequestError::NotImplemented => Failure::CodingNotImplemented,
            RequestError::VersionNotSupported => Failure::VersionNotSupported,
            RequestError::MethodNotAllowed => Failure::MethodNotAllowed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::class::{class_of, CLASS_NAMES};

    const ALL: [Failure; 19] = [
        Failure::Malformed,
        Failure::UriTooLong,
        Failure::HeadTooLarge,
        Failure::CodingNotImplemented,
        Failure::VersionNotSupported,
        Failure::MethodNotAllowed,
        Failure::HeadTimedOut,
        Failure::BodyTimedOut,
        Failure::ClientLeft,
        Failure::ClientStalled,
        Failure::ConnectFailed,
        Failure::ConnectTimedOut,
        Failure::SendFailed,
        Failure::SendTimedOut,
        Failure::NoResponse,
        Failure::ResponseTimedOut,
        Failure::BadResponse,
        Failure::ResponseCut,
        Failure::NoServer,
    ];

    #[test]
    fn client_faults_are_4xx_and_the_others_5xx_when_answerable() {
        for failure in ALL.into_iter().filter(|f| f.answerable()) {
            let class = CLASS_NAMES[class_of(failure.status())];
            let expected = match failure.source() {
                Source::Client if failure == Failure::CodingNotImplemented => "5xx",
                Source::Client if failure == Failure::VersionNotSupported => "5xx",
                Source::Client => "4xx",
                Source::Upstream | Source::Tern => "5xx",
            };
            assert_eq!(class, expected, "{failure:?}");
        }
    }

    #[test]
    fn unanswerable_failures_count_as_client_closed_or_none() {
        assert_eq!(
            CLASS_NAMES[class_of(Failure::ClientLeft.status())],
            "client_closed"
        );
        assert_eq!(
            CLASS_NAMES[class_of(Failure::ClientStalled.status())],
            "none"
        );
        assert_eq!(CLASS_NAMES[class_of(Failure::ResponseCut.status())], "none");
    }

    #[test]
    fn only_what_never_reached_a_server_is_always_retried() {
        let always: Vec<_> = ALL
            .into_iter()
            .filter(|f| f.retry() == Retry::Always)
            .collect();
        assert_eq!(always, [Failure::ConnectFailed, Failure::ConnectTimedOut]);
        assert_eq!(Failure::NoResponse.retry(), Retry::IfIdempotent);
        assert_eq!(Failure::SendFailed.retry(), Retry::IfIdempotent);
        assert_eq!(Failure::SendTimedOut.retry(), Retry::IfIdempotent);
        assert_eq!(Failure::ResponseTimedOut.retry(), Retry::Never);
    }
}
