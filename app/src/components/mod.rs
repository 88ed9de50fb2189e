//! Building blocks that several pages share: the workbench shell and small UI pieces.

pub mod shell;
pub mod ui;
