//! What every canvas panel needs from the browser: the size of the box it
//! fills (followed with a `ResizeObserver`), a canvas sized to it in device
//! pixels so lines stay crisp on high-density screens, and the theme's
//! colours read from the page's CSS variables. The drawing itself stays in
//! the pure per-type modules.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::html::Div;
use leptos::prelude::*;
use plotters_canvas::CanvasBackend;
use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::HtmlCanvasElement;

use super::render::{Rgb, parse_colour};

/// The colours of chrome around the data: background, text, grid, axes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Theme {
    pub background: Rgb,
    pub text: Rgb,
    pub muted: Rgb,
    pub grid: Rgb,
    pub axis: Rgb,
}

impl Theme {
    pub const LIGHT: Theme = Theme {
        background: Rgb(0xff, 0xff, 0xff),
        text: Rgb(0x1f, 0x23, 0x28),
        muted: Rgb(0x6b, 0x72, 0x80),
        grid: Rgb(0xec, 0xed, 0xf0),
        axis: Rgb(0xb0, 0xb4, 0xbb),
    };

    pub const DARK: Theme = Theme {
        background: Rgb(0x18, 0x1b, 0x1f),
        text: Rgb(0xcc, 0xcc, 0xdc),
        muted: Rgb(0x8e, 0x8e, 0x9a),
        grid: Rgb(0x2a, 0x2d, 0x33),
        axis: Rgb(0x46, 0x4a, 0x52),
    };

    /// The theme the page's stylesheet sets: `--panel` (background),
    /// `--text`, `--muted`, `--grid` and `--border` (axes) on the root
    /// element, each falling back to the light theme, or to the dark one
    /// when the background is dark.
    pub fn from_page() -> Theme {
        let read = |name: &str| -> Option<Rgb> {
            let window = web_sys::window()?;
            let root = window.document()?.document_element()?;
            let style = window.get_computed_style(&root).ok()??;
            parse_colour(&style.get_property_value(name).ok()?)
        };
        let background = read("--panel").unwrap_or(Theme::LIGHT.background);
        let luminance =
            0.299 * f64::from(background.0) + 0.587 * f64::from(background.1) + 0.114 * f64::from(background.2);
        let base = if luminance < 128.0 { Theme::DARK } else { Theme::LIGHT };
        Theme {
            background,
            text: read("--text").unwrap_or(base.text),
            muted: read("--muted").unwrap_or(base.muted),
            grid: read("--grid").unwrap_or(base.grid),
            axis: read("--border").unwrap_or(base.axis),
        }
    }
}

/// A box's size in CSS pixels, kept current by a `ResizeObserver` once the
/// element is mounted; (0, 0) until then.
pub fn observe_size(node: NodeRef<Div>) -> ReadSignal<(f64, f64)> {
    let (size, set_size) = signal((0.0f64, 0.0f64));
    type Held = Option<(web_sys::ResizeObserver, Closure<dyn FnMut(js_sys::Array)>)>;
    let held: Rc<RefCell<Held>> = Rc::new(RefCell::new(None));
    let held_in_effect = held.clone();
    Effect::new(move |_| {
        let Some(element) = node.get() else { return };
        if held_in_effect.borrow().is_some() {
            return;
        }
        let measured = element.clone();
        let measure = move || {
            let rect = measured.get_bounding_client_rect();
            let next = (rect.width().floor(), rect.height().floor());
            if size.get_untracked() != next {
                set_size.set(next);
            }
        };
        measure();
        let callback = Closure::<dyn FnMut(js_sys::Array)>::new(move |_entries: js_sys::Array| measure());
        if let Ok(observer) = web_sys::ResizeObserver::new(callback.as_ref().unchecked_ref()) {
            observer.observe(&element);
            *held_in_effect.borrow_mut() = Some((observer, callback));
        }
    });
    // The observer and its callback live as long as the component.
    let held = SendWrapper::new(held);
    on_cleanup(move || {
        if let Some((observer, _callback)) = held.take().take() {
            observer.disconnect();
        }
    });
    size
}

/// A counter that moves whenever the page may have switched theme: a
/// change of `class`, `style` or `data-theme` on the root element or the
/// body (how apps switch), so canvases redraw in the new CSS colours.
pub fn observe_theme() -> ReadSignal<u64> {
    let (version, set_version) = signal(0u64);
    let callback = Closure::<dyn FnMut(js_sys::Array)>::new(move |_records: js_sys::Array| {
        set_version.update(|v| *v += 1);
    });
    let observer = web_sys::MutationObserver::new(callback.as_ref().unchecked_ref()).ok();
    if let (Some(observer), Some(document)) = (&observer, web_sys::window().and_then(|w| w.document())) {
        let options = web_sys::MutationObserverInit::new();
        options.set_attributes(true);
        options.set_attribute_filter(&js_sys::Array::of3(&"class".into(), &"style".into(), &"data-theme".into()));
        let targets = [document.document_element(), document.body().map(Into::into)];
        for target in targets.into_iter().flatten() {
            let _ = observer.observe_with_options(&target, &options);
        }
    }
    let held = SendWrapper::new((observer, callback));
    on_cleanup(move || {
        let (observer, _callback) = held.take();
        if let Some(observer) = observer {
            observer.disconnect();
        }
    });
    version
}

/// The screen's device pixels per CSS pixel (1 when unknown).
pub fn device_pixel_ratio() -> f64 {
    web_sys::window().map(|w| w.device_pixel_ratio()).filter(|r| r.is_finite() && *r > 0.0).unwrap_or(1.0)
}

/// Sizes `canvas` to `css` pixels on screen and `css × ratio` in its
/// bitmap, and returns a plotters backend on it with the ratio, which the
/// drawing code multiplies its line widths and fonts by. `crisp_lines`
/// shifts drawing half a pixel where that puts thin lines on pixel centres
/// (graphs); bodies made of abutting filled shapes leave it off, or the
/// shapes' antialiased edges show as seams.
pub fn backend_for(canvas: &HtmlCanvasElement, css: (f64, f64), crisp_lines: bool) -> Option<(CanvasBackend, f64)> {
    let ratio = device_pixel_ratio();
    let (w, h) = ((css.0 * ratio).round().max(1.0) as u32, (css.1 * ratio).round().max(1.0) as u32);
    if canvas.width() != w {
        canvas.set_width(w);
    }
    if canvas.height() != h {
        canvas.set_height(h);
    }
    let style = web_sys::HtmlElement::style(canvas);
    let _ = style.set_property("width", &format!("{}px", css.0));
    let _ = style.set_property("height", &format!("{}px", css.1));
    // Lines one device pixel wide (line width 1 at ratio 1, 3 at 3…) sit
    // on pixel centres only when shifted half a pixel; unshifted, the
    // browser smears them over two half-tone pixels.
    let offset = if crisp_lines && (ratio.round() as i64) % 2 == 1 { 0.5 } else { 0.0 };
    if let Some(context) =
        canvas.get_context("2d").ok().flatten().and_then(|c| c.dyn_into::<web_sys::CanvasRenderingContext2d>().ok())
    {
        let _ = context.set_transform(1.0, 0.0, 0.0, 1.0, offset, offset);
    }
    CanvasBackend::with_canvas_object(canvas.clone()).map(|b| (b, ratio))
}

/// A mouse event's position relative to `element`'s top-left corner, in CSS
/// pixels.
pub fn local_position(element: &web_sys::Element, ev: &web_sys::MouseEvent) -> (f64, f64) {
    let rect = element.get_bounding_client_rect();
    (f64::from(ev.client_x()) - rect.left(), f64::from(ev.client_y()) - rect.top())
}
