//! When to retry: a pure function of (status, `Retry-After`, attempt, method), with no I/O.
//!
//! - `429 Too Many Requests` is retried after its `Retry-After` (seconds or an HTTP date), else
//!   after exponential backoff with jitter, for every request: the service refused it;
//! - `503 Service Unavailable` (also after its `Retry-After`), other 5xx and transport failures
//!   (connection reset, timeout) are retried for idempotent requests only (GET, PUT, DELETE,
//!   and PATCH/POST the caller marks safe): a POST that may have reached the server is never
//!   blindly repeated ([`crate::Client::create`] looks the resource up first, and repeats the
//!   POST only when the lookup proves it absent);
//! - some services signal throttling as `500` with a rate-limit message: such bodies count as
//!   throttling (their `Retry-After` is honoured), but only idempotent requests repeat them;
//! - everything else (4xx) is final.

use std::time::Duration;

/// Retry settings.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Most attempts in total (1 = no retry).
    pub max_attempts: u32,
    /// First backoff delay.
    pub base_delay: Duration,
    /// Largest delay between attempts, also the cap for `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }
    /// Builder: attempts.
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }
    /// Builder: base delay.
    pub fn with_base_delay(mut self, d: Duration) -> Self {
        self.base_delay = d;
        self
    }
    /// Builder: largest delay.
    pub fn with_max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }
}

/// What happened on one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP response with this status.
    Status(u16),
    /// The response said it was throttled although its status is not 429 (e.g. a 500 whose
    /// body says "rate limit").
    Throttled,
    /// No response: connection failure or timeout (the request may have been processed).
    Transport,
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long, then try again.
    Retry(Duration),
    /// Stop: return the result as it is.
    Stop,
}

/// Decides whether attempt number `attempt` (1-based, the one that just finished) is retried.
///
/// `jitter` in `[0, 1)` spreads backoff delays (pass a random number; tests pass a constant).
pub fn decide(
    policy: &RetryPolicy,
    outcome: Outcome,
    retry_after: Option<Duration>,
    attempt: u32,
    idempotent: bool,
    jitter: f64,
) -> Decision {
    if attempt >= policy.max_attempts {
        return Decision::Stop;
    }
    let throttled = matches!(outcome, Outcome::Throttled | Outcome::Status(429));
    let unavailable = matches!(outcome, Outcome::Status(503));
    // Only a 429 proves that the request was not processed; anything else from the 5xx range
    // (503 included: a proxy may answer it after the backend acted) may have been.
    let retryable = match outcome {
        Outcome::Status(429) => true,
        Outcome::Status(s) => (500..600).contains(&s) && s != 501 && idempotent,
        Outcome::Transport | Outcome::Throttled => idempotent,
    };
    if !retryable {
        return Decision::Stop;
    }
    if let Some(ra) = retry_after.filter(|_| throttled || unavailable) {
        return Decision::Retry(ra.min(policy.max_delay));
    }
    // Exponential backoff with "equal jitter": half fixed, half random.
    let exp = policy
        .base_delay
        .saturating_mul(1u32 << (attempt - 1).min(16));
    let capped = exp.min(policy.max_delay);
    let half = capped / 2;
    Decision::Retry(half + half.mul_f64(jitter.clamp(0.0, 1.0)))
}

/// Parses `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// True when a non-429 error body looks like throttling ("rate limit", "throttl", "too many").
pub fn body_says_throttled(body: &str) -> bool {
    let b = body.to_ascii_lowercase();
    b.contains("rate limit")
        || b.contains("ratelimit")
        || b.contains("throttl")
        || b.contains("too many requests")
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: RetryPolicy = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(10),
    };

    #[test]
    fn throttling_honours_retry_after_capped() {
        let d = decide(
            &P,
            Outcome::Status(429),
            Some(Duration::from_secs(3)),
            1,
            false,
            0.5,
        );
        assert_eq!(d, Decision::Retry(Duration::from_secs(3)));
        let d = decide(
            &P,
            Outcome::Status(503),
            Some(Duration::from_secs(999)),
            1,
            true,
            0.5,
        );
        assert_eq!(d, Decision::Retry(Duration::from_secs(10)));
        assert_eq!(
            decide(
                &P,
                Outcome::Throttled,
                Some(Duration::from_secs(2)),
                2,
                true,
                0.0
            ),
            Decision::Retry(Duration::from_secs(2))
        );
    }

    #[test]
    fn a_post_is_repeated_only_after_429() {
        // 429 is a refusal: the server did not process the request.
        assert_eq!(
            decide(
                &P,
                Outcome::Status(429),
                Some(Duration::from_secs(1)),
                1,
                false,
                0.0
            ),
            Decision::Retry(Duration::from_secs(1))
        );
        // 503 (even with Retry-After), a 500 that says "rate limit", other 5xx and transport
        // failures may have been processed.
        for o in [
            Outcome::Status(503),
            Outcome::Throttled,
            Outcome::Status(500),
            Outcome::Status(502),
            Outcome::Status(504),
            Outcome::Transport,
        ] {
            assert_eq!(
                decide(&P, o, Some(Duration::from_secs(1)), 1, false, 0.0),
                Decision::Stop,
                "{o:?}"
            );
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_stops() {
        assert_eq!(
            decide(&P, Outcome::Status(502), None, 1, true, 0.0),
            Decision::Retry(Duration::from_millis(50))
        );
        assert_eq!(
            decide(&P, Outcome::Status(502), None, 1, true, 1.0),
            Decision::Retry(Duration::from_millis(100))
        );
        assert_eq!(
            decide(&P, Outcome::Status(502), None, 3, true, 1.0),
            Decision::Retry(Duration::from_millis(400))
        );
        assert_eq!(
            decide(&P, Outcome::Status(502), None, 4, true, 0.0),
            Decision::Stop
        );
        let big = RetryPolicy {
            max_attempts: 40,
            ..P
        };
        assert_eq!(
            decide(&big, Outcome::Status(500), None, 30, true, 1.0),
            Decision::Retry(Duration::from_secs(10))
        );
    }

    #[test]
    fn non_idempotent_and_client_errors_are_final() {
        assert_eq!(
            decide(&P, Outcome::Status(500), None, 1, false, 0.0),
            Decision::Stop
        );
        assert_eq!(
            decide(&P, Outcome::Transport, None, 1, false, 0.0),
            Decision::Stop
        );
        assert!(matches!(
            decide(&P, Outcome::Transport, None, 1, true, 0.0),
            Decision::Retry(_)
        ));
        for s in [400, 401, 403, 404, 409, 412, 413, 501] {
            assert_eq!(
                decide(&P, Outcome::Status(s), None, 1, true, 0.0),
                Decision::Stop,
                "{s}"
            );
        }
        assert_eq!(RetryPolicy::none().max_attempts, 1);
        assert_eq!(
            decide(
                &RetryPolicy::none(),
                Outcome::Status(429),
                None,
                1,
                true,
                0.0
            ),
            Decision::Stop
        );
    }

    #[test]
    fn retry_after_forms() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert!(body_says_throttled("Error: Rate limit exceeded"));
        assert!(!body_says_throttled("internal error"));
    }
}
