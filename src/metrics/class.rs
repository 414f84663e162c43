//! Status classes: requests are counted by class, not by status, so the
//! number of series stays fixed whatever statuses the upstreams invent.

/// `none` is an exchange that ended without a status reaching the client
/// (the upstream went away first, or the client mid-response);
/// `client_closed` a request whose client left while it waited for the
/// upstream's answer (logged as 499, as nginx does).
pub const CLASS_NAMES: [&str; 7] = ["none", "1xx", "2xx", "3xx", "4xx", "5xx", "client_closed"];
pub const CLASSES: usize = CLASS_NAMES.len();

/// The class slot of `status`; 0 (`none`) for 0 and anything outside 100..=599.
pub fn class_of(status: u16) -> usize {
    match status {
        499 => 6,
        100..=599 => usize::from(status / 100),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_fall_in_their_class() {
        assert_eq!(CLASS_NAMES[class_of(101)], "1xx");
        assert_eq!(CLASS_NAMES[class_of(204)], "2xx");
        assert_eq!(CLASS_NAMES[class_of(304)], "3xx");
        assert_eq!(CLASS_NAMES[class_of(404)], "4xx");
        assert_eq!(CLASS_NAMES[class_of(499)], "client_closed");
        assert_eq!(CLASS_NAMES[class_of(599)], "5xx");
        assert_eq!(CLASS_NAMES[class_of(0)], "none");
        assert_eq!(CLASS_NAMES[class_of(600)], "none");
    }
}
