//! Frontend assets: lossless image optimization ([`images`]), bundle analysis with gzip and brotli
//! sizes ([`analysis`], [`compress`]) and size budgets ([`budget`]).

pub mod analysis;
pub mod budget;
pub mod compress;
pub mod images;
