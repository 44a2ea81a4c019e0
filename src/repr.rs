//! Values, types and the one interpreted row type.

use std::fmt;

/// A column type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataType {
    /// 64-bit signed integer (`BIGINT`, `INT`, `INTEGER`).
    BigInt,
    /// 64-bit float (`DOUBLE`, `FLOAT`, `REAL`).
    Double,
    /// UTF-8 text (`TEXT`, `VARCHAR`).
    Text,
    /// `BOOLEAN`.
    Boolean,
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataType::BigInt => "BIGINT",
            DataType::Double => "DOUBLE",
            DataType::Text => "TEXT",
            DataType::Boolean => "BOOLEAN",
        })
    }
}
