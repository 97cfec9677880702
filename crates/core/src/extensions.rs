//! [`Extensions`]: the stores and engines each service keeps, owned by [`crate::AppState`].
//!
//! A service crate sits above `core`, so `AppState` cannot name its types; instead each service
//! asks for its own value by type (`state.extensions.get_or_try_init(|| Engine::open(…))`),
//! opened once on first use and dropped with the state. Two servers in one process (tests)
//! therefore never share a store, and no `static` holds one.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

type Value = Arc<dyn Any + Send + Sync>;

/// One slot: the value once opened, and a lock that lets one caller open it.
#[derive(Default)]
struct Slot {
    value: RwLock<Option<Value>>,
    opening: Mutex<()>,
}

impl Slot {
    fn value(&self) -> Option<Value> {
        self.value
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Values by type, each opened once.
#[derive(Default)]
pub struct Extensions {
    slots: Mutex<HashMap<TypeId, Arc<Slot>>>,
}

impl Extensions {
    /// The value of type `T`, opened by `open` on first use. A failed `open` leaves the slot
    /// empty, so the next call tries again. `open` may itself ask for other types.
    pub fn get_or_try_init<T, E>(&self, open: impl FnOnce() -> Result<T, E>) -> Result<Arc<T>, E>
    where
        T: Any + Send + Sync,
    {
        let slot = self.slot::<T>();
        if let Some(value) = slot.value() {
            return Ok(downcast(&value));
        }
        let _opening = slot.opening.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = slot.value() {
            return Ok(downcast(&value));
        }
        let value: Value = Arc::new(open()?);
        *slot.value.write().unwrap_or_else(PoisonError::into_inner) = Some(value.clone());
        Ok(downcast(&value))
    }

    /// The value of type `T`, made by `make` on first use.
    pub fn get_or_init<T>(&self, make: impl FnOnce() -> T) -> Arc<T>
    where
        T: Any + Send + Sync,
    {
        match self.get_or_try_init::<T, std::convert::Infallible>(|| Ok(make())) {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// The value of type `T` if it was opened.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.slot::<T>().value().as_ref().map(downcast)
    }

    /// Empties the slot of `T` if it still holds `current` (a store that must be opened
    /// anew); the next [`Extensions::get_or_try_init`] opens it again. Returns whether it did.
    pub fn remove_if<T: Any + Send + Sync>(&self, current: &Arc<T>) -> bool {
        let slot = self.slot::<T>();
        let _opening = slot.opening.lock().unwrap_or_else(PoisonError::into_inner);
        let mut value = slot.value.write().unwrap_or_else(PoisonError::into_inner);
        let holds = value
            .as_ref()
            .is_some_and(|held| std::ptr::addr_eq(Arc::as_ptr(held), Arc::as_ptr(current)));
        if holds {
            *value = None;
        }
        holds
    }

    fn slot<T: Any>(&self) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.entry(TypeId::of::<T>()).or_default().clone()
    }
}

fn downcast<T: Any + Send + Sync>(value: &Value) -> Arc<T> {
    match value.clone().downcast::<T>() {
        Ok(value) => value,
        // Slots are keyed by the TypeId of what they hold.
        Err(_) => unreachable!("extension slot holds another type"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Engine(u32);

    #[test]
    fn a_value_is_opened_once_and_a_failed_open_is_retried() {
        let extensions = Extensions::default();
        let failed = extensions.get_or_try_init::<Engine, &str>(|| Err("not yet"));
        assert!(failed.is_err());
        assert!(extensions.get::<Engine>().is_none());
        let first = extensions
            .get_or_try_init::<Engine, &str>(|| Ok(Engine(1)))
            .expect("opened");
        let second = extensions.get_or_init(|| Engine(2));
        assert_eq!(first.0, 1);
        assert_eq!(second.0, 1, "the second open must not run");
        assert!(Arc::ptr_eq(&first, &second));
    }

    #[test]
    fn two_owners_do_not_share() {
        let one = Extensions::default();
        let two = Extensions::default();
        assert_eq!(one.get_or_init(|| Engine(1)).0, 1);
        assert_eq!(two.get_or_init(|| Engine(2)).0, 2);
    }
}
