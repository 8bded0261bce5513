//! Small private stand-ins for what other branches provide, so the app's
//! call sites are written against the real shapes today; each is replaced
//! by the real thing once it is on main; nothing here is meant to stay.

use vigil_shared::dashboard::Panel;

/// The renderers' own panel settings (`panels::Panel`, their stand-in for
/// the shared model) from the shared model's panel.
pub fn body_panel(panel: &Panel) -> crate::panels::Panel {
    let mut options = serde_json::to_value(&panel.options).unwrap_or_default();
    // Old text panels keep their content at the top level.
    if let (Some(content), Some(map)) = (panel.text_content(), options.as_object_mut()) {
        map.entry("content").or_insert_with(|| serde_json::Value::String(content.to_owned()));
    }
    crate::panels::Panel {
        id: panel.id.unwrap_or(0),
        panel_type: panel.kind.clone(),
        title: panel.title.clone(),
        options,
        field_config: serde_json::to_value(&panel.field_config).unwrap_or_default(),
    }
}
