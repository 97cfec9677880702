//! The one error type of the history layer.

use std::path::PathBuf;

/// What can go wrong while indexing or looking up events.
#[derive(thiserror::Error, Debug)]
pub enum HistoryError {
    /// The `NextToken` is not one this index issued for the same query parameters.
    #[error("invalid next token: {0}")]
    InvalidNextToken(String),
    /// The embedded key-value store failed.
    #[error("history storage failed: {0}")]
    Storage(#[from] fjall::Error),
    /// A file-system operation failed.
    #[error("history io failed: {0}")]
    Io(#[from] std::io::Error),
    /// The data directory was written by a build with a different on-disk layout.
    #[error(
        "history index at {path} has format version {found}, this build reads only version {expected}"
    )]
    UnsupportedFormat {
        path: PathBuf,
        found: String,
        expected: u32,
    },
    /// Stored bytes do not follow the layout this build wrote.
    #[error("history index is corrupt: {0}")]
    Corrupt(String),
}

impl HistoryError {
    /// Whether only reopening the store cures it: fjall was poisoned by a failed write or
    /// flush (a full disk), or the file system failed a call.
    pub fn needs_reopen(&self) -> bool {
        matches!(
            self,
            HistoryError::Storage(
                fjall::Error::Poisoned | fjall::Error::Io(_) | fjall::Error::Storage(_),
            ) | HistoryError::Io(_)
        )
    }

    /// The AWS error code LookupEvents answers with for this error.
    pub fn aws_code(&self) -> &'static str {
        match self {
            HistoryError::InvalidNextToken(_) => "InvalidNextTokenException",
            _ => "InternalFailure",
        }
    }

    /// The HTTP status LookupEvents answers with for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            HistoryError::InvalidNextToken(_) => 400,
            _ => 500,
        }
    }
}
