//! The login rate limit: a token bucket per client address, in a bounded map.
//!
//! IPv6 clients are counted per /64, since one host usually holds a whole /64.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Attempts a client may make in a burst.
const BURST: f64 = 10.0;
/// One more attempt every this long.
const REFILL_EVERY: Duration = Duration::from_secs(6);
/// Clients remembered at once; past this, full buckets and then the stalest go.
const MAX_CLIENTS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn refilled(self, now: Instant) -> f64 {
        let gained =
            now.saturating_duration_since(self.updated).as_secs_f64() / REFILL_EVERY.as_secs_f64();
        (self.tokens + gained).min(BURST)
    }
}

/// Shared by every login request.
#[derive(Debug, Default)]
pub(crate) struct LoginLimiter {
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl LoginLimiter {
    /// Takes one attempt for `client`, or says how long until the next is allowed.
    pub fn attempt(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let key = key(client);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !buckets.contains_key(&key) && buckets.len() >= MAX_CLIENTS {
            make_room(&mut buckets, now);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: BURST,
            updated: now,
        });
        let tokens = bucket.refilled(now);
        if tokens < 1.0 {
            let wait = (1.0 - tokens) * REFILL_EVERY.as_secs_f64();
            return Err(Duration::from_secs_f64(wait));
        }
        *bucket = Bucket {
            tokens: tokens - 1.0,
            updated: now,
        };
        Ok(())
    }
}

/// Forgets clients whose bucket is full again; if none is, the stalest one.
fn make_room(buckets: &mut HashMap<IpAddr, Bucket>, now: Instant) {
    buckets.retain(|_, b| b.refilled(now) < BURST);
    if buckets.len() >= MAX_CLIENTS
        && let Some(stalest) = buckets
            .iter()
            .min_by_key(|(_, b)| b.updated)
            .map(|(ip, _)| *ip)
    {
        buckets.remove(&stalest);
    }
}

fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn a_burst_passes_then_the_next_attempt_waits_one_refill() {
        let limiter = LoginLimiter::default();
        let now = Instant::now();
        for _ in 0..10 {
            assert!(limiter.attempt(A, now).is_ok());
        }
        assert_eq!(limiter.attempt(A, now), Err(REFILL_EVERY));
        assert!(
            limiter.attempt(B, now).is_ok(),
            "another client is not affected"
        );
        assert!(limiter.attempt(A, now + REFILL_EVERY).is_ok());
    }

    #[test]
    fn addresses_in_one_ipv6_64_share_a_bucket() {
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let two: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(key(one), key(two));
    }

    #[test]
    fn the_map_never_grows_past_its_bound() {
        let limiter = LoginLimiter::default();
        let now = Instant::now();
        for i in 0..(MAX_CLIENTS as u32 + 50) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(i));
            limiter.attempt(ip, now).unwrap();
        }
        assert!(limiter.buckets.lock().unwrap().len() <= MAX_CLIENTS);
    }
}
