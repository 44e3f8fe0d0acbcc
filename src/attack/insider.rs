//! An insider at the till: refunds to a card of their own, authorised with
//! whatever supervisor password they can get. Sans IO: who may refund and
//! how strong their passwords are decide it.

use crate::scenario::{PasswordStrength, Staff};

/// Wrong passwords before a terminal locks its supervisor functions.
pub const LOCKOUT_AFTER: u32 = 3;

/// How an insider's try to authorise a refund goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// With this person's password: their own if they may refund, else a
    /// colleague's weak or factory-default one.
    As(String),
    /// Nobody who may refund has a password the insider can get.
    Refused,
}

/// Whose password the insider `insider` gets refunds authorised with.
pub fn login(staff: &[Staff], insider: &str) -> Login {
    if staff.iter().any(|s| s.name == insider && s.refunds) {
        return Login::As(insider.into());
    }
    staff
        .iter()
        .find(|s| {
            s.refunds && matches!(s.password, PasswordStrength::Weak | PasswordStrength::Default)
        })
        .map_or(Login::Refused, |s| Login::As(s.name.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, password: PasswordStrength, refunds: bool) -> Staff {
        Staff { name: name.into(), password, refunds }
    }

    #[test]
    fn a_weak_or_default_supervisor_password_lets_an_insider_refund() {
        let weak = [
            member("cashier", PasswordStrength::Strong, false),
            member("boss", PasswordStrength::Weak, true),
        ];
        assert_eq!(login(&weak, "cashier"), Login::As("boss".into()));
        let default = [
            member("cashier", PasswordStrength::Strong, false),
            member("admin", PasswordStrength::Default, true),
        ];
        assert_eq!(login(&default, "cashier"), Login::As("admin".into()));
    }

    #[test]
    fn strong_supervisor_passwords_keep_an_insider_out() {
        let strong = [
            member("cashier", PasswordStrength::Weak, false),
            member("boss", PasswordStrength::Strong, true),
        ];
        assert_eq!(login(&strong, "cashier"), Login::Refused);
        assert_eq!(login(&[], "cashier"), Login::Refused);
    }

    #[test]
    fn a_supervisor_uses_their_own_login() {
        let s = [member("boss", PasswordStrength::Strong, true)];
        assert_eq!(login(&s, "boss"), Login::As("boss".into()));
    }
}
