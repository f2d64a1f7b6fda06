//! Strata's S3 frontend: turns S3 requests (parsed and authenticated by the
//! s3s crate) into core calls, and core outcomes into S3 responses and error
//! codes. It never touches metadata or data storage directly.

mod access;
mod acl;
mod admin;
mod auth;
mod backbeat;
mod bucket_config;
mod config_convert;
mod convert;
mod cors;
mod error;
mod handlers;
mod host;
mod idle_body;
mod operator;
mod request_id;
mod request_values;
pub mod server;
mod sig_v2;
mod sig_v4;
mod sse;
mod sync_stream;
mod website;
mod xml_body_limit;

pub use server::{ServerConfig, serve};
