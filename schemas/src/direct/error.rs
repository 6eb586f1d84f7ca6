//! What the direct decoder reports about a corrupt datum: what is wrong ([`ErrorKind`]) and where
//! (the field names and array positions leading to it).

use std::fmt;

use serde::de;

/// What is wrong with a datum, and where in it (field names and array positions, outermost first).
#[derive(Debug)]
pub(crate) struct DecodeError(Box<ErrorInner>);

#[derive(Debug)]
struct ErrorInner {
    kind: ErrorKind,
    /// Innermost first (pushed while the error travels up).
    path: Vec<PathSegment>,
}

#[derive(Debug)]
enum PathSegment {
    Field(Box<str>),
    Index(usize),
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ErrorKind {
    #[error("the datum ends early: {0} is cut off")]
    UnexpectedEnd(&'static str),
    #[error("variable-length integer longer than 10 bytes")]
    VarintOverflow,
    #[error("int value {0} is out of the 32-bit range")]
    IntOutOfRange(i64),
    #[error("negative length {0}")]
    NegativeLength(i64),
    #[error("length {len} exceeds the decode limit of {max} bytes")]
    TooLarge { len: u64, max: usize },
    #[error("array or map block count {0} cannot be negated")]
    BlockCountOverflow(i64),
    #[error("string is not valid UTF-8: {0}")]
    InvalidUtf8(std::str::Utf8Error),
    #[error("invalid boolean byte {0:#04x}")]
    InvalidBool(u8),
    #[error("union branch index {index} out of range (the union has {variants})")]
    UnionIndex { index: i64, variants: usize },
    #[error("enum symbol index {index} out of range (the enum has {symbols})")]
    EnumIndex { index: i64, symbols: usize },
    #[error("{0}")]
    Serde(String),
}

impl DecodeError {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        DecodeError(Box::new(ErrorInner { kind, path: Vec::new() }))
    }

    pub(crate) fn in_field(mut self, name: &str) -> Self {
        self.0.path.push(PathSegment::Field(name.into()));
        self
    }

    pub(crate) fn at_index(mut self, index: usize) -> Self {
        self.0.path.push(PathSegment::Index(index));
        self
    }
}

impl DecodeError {
    /// What went wrong, without where.
    #[cfg(test)]
    pub(crate) fn into_kind(self) -> ErrorKind {
        self.0.kind
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.kind)?;
        if !self.0.path.is_empty() {
            f.write_str(" at ")?;
            for (i, segment) in self.0.path.iter().rev().enumerate() {
                match segment {
                    PathSegment::Field(name) if i == 0 => write!(f, "{name}")?,
                    PathSegment::Field(name) => write!(f, ".{name}")?,
                    PathSegment::Index(index) => write!(f, "[{index}]")?,
                }
            }
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError::new(ErrorKind::Serde(msg.to_string()))
    }
}

pub(crate) type Result<T, E = DecodeError> = std::result::Result<T, E>;

/// `kind` as an `Err` with no path yet.
pub(crate) fn err<T>(kind: ErrorKind) -> Result<T> {
    Err(DecodeError::new(kind))
}
