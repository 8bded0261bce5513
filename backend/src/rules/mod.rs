//! Recording and alerting rules: rule files in Prometheus's format, alert
//! templates, and the manager that evaluates groups on their intervals,
//! writes recorded series and `ALERTS`, and keeps alert state.

pub mod alert;
pub mod file;
pub mod manager;
pub mod template;
pub mod unittest;

pub use file::{GroupDef, RuleDef, RuleFile, RuleFileError, RuleKind};
pub use manager::{RuleManager, RuleManagerOptions};
