//! Black-box tests of the whole system live in `tests/`; this library is empty.
