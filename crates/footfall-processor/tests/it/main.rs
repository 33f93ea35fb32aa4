mod operators;
