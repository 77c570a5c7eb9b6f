//! PATCH paths and attribute paths.
//!
//! Any UTF-8 input goes to `PatchPath::parse` and `AttrPath::parse`, which must never panic;
//! when either parses, its `Display` form must re-parse to an equal value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_core::{AttrPath, PatchPath};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };

    if let Ok(p) = PatchPath::parse(input) {
        let shown = p.to_string();
        let again = PatchPath::parse(&shown).unwrap_or_else(|e| {
            panic!("PatchPath Display does not re-parse\ninput: {input:?}\nshown: {shown:?}\nerror: {e}")
        });
        assert_eq!(
            p, again,
            "PatchPath round trip changed the path\ninput: {input:?}\nshown: {shown:?}"
        );
    }

    if let Ok(p) = AttrPath::parse(input) {
        let shown = p.to_string();
        let again = AttrPath::parse(&shown).unwrap_or_else(|e| {
            panic!("AttrPath Display does not re-parse\ninput: {input:?}\nshown: {shown:?}\nerror: {e}")
        });
        assert_eq!(
            p, again,
            "AttrPath round trip changed the path\ninput: {input:?}\nshown: {shown:?}"
        );
    }
});
