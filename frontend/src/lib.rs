//! The browser entry point: hydrates the server-rendered Pulse app.
//!
//! Built only for `wasm32-unknown-unknown` (by `cargo xtask build`); on the host this crate is
//! empty so that workspace-wide builds never combine the app's `hydrate` and `ssr` features.

#![recursion_limit = "256"]

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
    // A page's links and forms work without wasm, so nothing visible says when its client-side
    // handlers are attached; browser tests (and anyone debugging) read this mark.
    if let Some(root) = leptos::prelude::document().document_element() {
        let _ = root.set_attribute("data-hydrated", "");
    }
}
