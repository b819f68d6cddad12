//! A contact file as a member imports it: arbitrary bytes read as a vCard and as a CSV
//! file (`import::read_file`). Never panics; every row says where it is in the file.
#![no_main]

use carnet_client::import::read_file;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for name in ["contacts.vcf", "contacts.csv"] {
        if let Ok(imported) = read_file(name, data) {
            for row in &imported.rows {
                assert!(!row.source.is_empty(), "a row with no place in the file");
            }
        }
    }
});
