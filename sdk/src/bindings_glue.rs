//! The glue between the generated bindings and a [`Handler`].

use std::marker::PhantomData;

use crate::bindings::Guest;
use crate::bindings::sluice::function::types;
use crate::{Batch, BatchHandler, Error, Event, Handler};

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

/// Adapts a [`BatchHandler`] to the generated batch world's `Guest` trait.
///
/// [`export_batch!`](crate::export_batch) exports `BatchGlue<YourHandler>`.
pub struct BatchGlue<T>(PhantomData<T>);

impl<T: BatchHandler> crate::batch_bindings::Guest for BatchGlue<T> {
    fn handle_batch(events: Vec<types::Event>) -> Vec<Result<(), types::Failure>> {
        let batch = Batch::new(events.into_iter().map(Event::from_wit).collect());
        T::handle_batch(batch)
            .into_results()
            .into_iter()
            .map(|result| result.map_err(Error::into_wit))
            .collect()
    }
}
