mod identity;
mod operators;
