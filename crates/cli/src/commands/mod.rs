//! One module per subcommand; each returns its whole output as a string so
//! nothing is printed before the command has succeeded.

pub mod audit;
pub mod check;
pub mod estimate;
pub mod explain;
pub mod jit;
pub mod ops;
pub mod opt;
pub mod run;
