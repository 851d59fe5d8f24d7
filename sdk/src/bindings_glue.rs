//! The glue between the generated bindings and a [`Handler`].

use std::marker::PhantomData;

use crate::bindings::Guest;
use crate::bindings::sluice::function::types;
use crate::{Error, Event, Handler};

/// Adapts a [`Handler`] to the generated `Guest` trait: converts the WIT event into an
/// [`Event`] and the handler's [`Error`] into the WIT `failure`.
///
/// [`export!`](crate::export) exports `Glue<YourHandler>`.
pub struct Glue<T>(PhantomData<T>);

impl<T: Handler> Guest for Glue<T> {
    fn handle(event: types::Event) -> Result<(), types::Failure> {
        T::handle(Event::from_wit(event)).map_err(Error::into_wit)
    }
}
