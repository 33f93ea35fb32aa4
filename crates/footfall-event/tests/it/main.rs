//! Tests of the event model: validation rules one by one, normalization, and properties that
//! must hold for any input.

mod normalize;
mod properties;
mod validation;
