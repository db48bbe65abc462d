//! napi bindings (filled next).
