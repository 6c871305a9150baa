//! Retrying within a deadline: exponential backoff with jitter, for channels and cloud APIs alike.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How long to wait between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure; doubles after each further one.
    pub base: Duration,
    /// The longest wait.
    pub max: Duration,
    /// Attempts at most, the first included.
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(500),
            max: Duration::from_secs(8),
            max_attempts: 5,
        }
    }
}

impl Backoff {
    /// The wait before attempt `next` (2 for the first retry): "equal jitter", half fixed and half
    /// random, so that many clients retrying together spread out.
    pub fn delay(&self, next: u32) -> Duration {
        let exponent = next.saturating_sub(2).min(16);
        let full = self.base.saturating_mul(1 << exponent).min(self.max);
        let half = full / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// What a failed attempt allows.
pub trait Retryable {
    /// True when a later attempt may succeed.
    fn is_retryable(&self) -> bool;
    /// A wait the other side asked for (`Retry-After`), if any.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// Runs `attempt` until it succeeds, fails for good, runs out of attempts, or the next wait would
/// end past `deadline`. Returns the last result and the attempts made.
pub async fn retry<T, E, F, Fut>(
    backoff: Backoff,
    deadline: Instant,
    mut attempt: F,
) -> (Result<T, E>, u32)
where
    E: Retryable,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut made = 0;
    loop {
        made += 1;
        let result = attempt(made).await;
        let error = match result {
            Ok(value) => return (Ok(value), made),
            Err(error) => error,
        };
        if !error.is_retryable() || made >= backoff.max_attempts {
            return (Err(error), made);
        }
        let wait = backoff
            .delay(made + 1)
            .max(error.retry_after().unwrap_or_default());
        if Instant::now() + wait >= deadline {
            return (Err(error), made);
        }
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Flaky {
        permanent: bool,
    }

    impl Retryable for Flaky {
        fn is_retryable(&self) -> bool {
            !self.permanent
        }
    }

    fn quick() -> Backoff {
        Backoff {
            base: Duration::from_millis(10),
            max: Duration::from_millis(40),
            max_attempts: 5,
        }
    }

    #[test]
    fn delays_double_with_jitter_up_to_the_cap() {
        let backoff = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            max_attempts: 9,
        };
        for _ in 0..50 {
            let second = backoff.delay(2);
            assert!(second >= Duration::from_millis(50) && second <= Duration::from_millis(100));
            let third = backoff.delay(3);
            assert!(third >= Duration::from_millis(100) && third <= Duration::from_millis(200));
            let late = backoff.delay(12);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_millis(1000));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn passing_failures_are_retried_until_success() {
        let deadline = Instant::now() + Duration::from_secs(10);
        let (result, attempts) = retry(quick(), deadline, |n| async move {
            if n < 3 {
                Err(Flaky { permanent: false })
            } else {
                Ok(n)
            }
        })
        .await;
        assert_eq!(result, Ok(3));
        assert_eq!(attempts, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failures_are_not_retried() {
        let deadline = Instant::now() + Duration::from_secs(10);
        let (result, attempts) = retry(quick(), deadline, |_| async {
            Err::<(), _>(Flaky { permanent: true })
        })
        .await;
        assert_eq!(result, Err(Flaky { permanent: true }));
        assert_eq!(attempts, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_at_the_attempt_limit_and_before_the_deadline() {
        let far = Instant::now() + Duration::from_secs(100);
        let (_, attempts) = retry(quick(), far, |_| async {
            Err::<(), _>(Flaky { permanent: false })
        })
        .await;
        assert_eq!(attempts, 5);

        let near = Instant::now() + Duration::from_millis(25);
        let (_, attempts) = retry(quick(), near, |_| async {
            Err::<(), _>(Flaky { permanent: false })
        })
        .await;
        assert!(attempts < 5, "{attempts}");
    }
}
