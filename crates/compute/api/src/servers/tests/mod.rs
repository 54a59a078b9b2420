//! Handler tests for the servers API: Nova's schemas rule by rule and golden views (pure),
//! and the router over a real `Compute` (`router`).

mod router;
mod validation;
mod views;
