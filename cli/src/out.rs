//! Printing: tables and sentences for people, one JSON document for scripts.

use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{ContentArrangement, Table};
use serde_json::Value;

#[derive(Clone, Copy)]
pub struct Out {
    pub json: bool,
    /// `--quiet`: a command that makes something prints only its id, so that a shell
    /// script can keep it (`L=$(carnet -q contact add …)`) without a JSON tool.
    pub quiet: bool,
}

impl Out {
    /// Whether the sentences and tables meant for people are wanted.
    pub fn human(&self) -> bool {
        !self.json && !self.quiet
    }

    /// [`Out::emit`] for a command that made `id` (an event, a listing, a member
    /// key): under `--quiet` that id alone is printed.
    pub fn emit_made(&self, id: &str, value: Value, human: impl FnOnce()) {
        if self.quiet && !self.json {
            println!("{id}");
        } else {
            self.emit(value, human);
        }
    }

    /// Prints `value` as JSON when asked to, otherwise runs `human`.
    pub fn emit(&self, value: Value, human: impl FnOnce()) {
        if self.json {
            println!("{value}");
        } else {
            human();
        }
    }
}

/// A plain table with a header row.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(headers.to_vec());
    for r in rows {
        t.add_row(r);
    }
    t.to_string()
}
