//! The input model: one sessionized event as the detector sees it.
//!
//! The sessionizer converts its Avro records into these. Strings are `Cow<'a, str>` so a caller can
//! either borrow from buffers it already holds (no copy on the hot path) or own them (`Event<'static>`,
//! e.g. for events kept in per-session state across batches; see [`Event::into_owned`]).
//!
//! The serde shape mirrors the ingest API (camelCase, `"type"` names the kind, its payload fields sit
//! beside the common ones), so scenario files and the ingest contract read alike.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// One event of one session, already ordered, deduplicated, clock-corrected and assigned a view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event<'a> {
    /// The dedup key (the SDK's `eventId`, or one the gateway derived from content).
    pub event_id: Cow<'a, str>,
    /// The session this event belongs to.
    pub session_id: Cow<'a, str>,
    /// The browser tab, when the SDK sends one. Click and dead-click state is per tab (docs/detection.md "Sessions, tabs and views").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tab_id: Option<Cow<'a, str>>,
    /// Assigned by the sessionizer; changes on every navigation. Detectors never span views.
    #[serde(default)]
    pub view_id: Cow<'a, str>,
    /// Per-session sequence number assigned by the sessionizer (ties at equal timestamps).
    #[serde(default)]
    pub seq: u64,
    /// Event time in epoch milliseconds, already corrected for client clock skew.
    pub timestamp_ms: i64,
    /// The page route (path) the event happened on; see [`crate::route_template`].
    #[serde(default)]
    pub route: Cow<'a, str>,
    /// The full URL when known. Only used as context; rules work on `route`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Cow<'a, str>>,
    /// What happened, with its kind-specific payload.
    #[serde(flatten)]
    pub kind: EventKind<'a>,
}

/// The kind-specific payload of an [`Event`] (docs/architecture.md §3 "one typed payload per kind").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum EventKind<'a> {
    /// A click (or tap) on `target`.
    Click {
        /// Which mouse button.
        #[serde(default)]
        button: MouseButton,
        /// Modifier keys held during the click.
        #[serde(default)]
        modifiers: Modifiers,
        /// The element clicked (the SDK resolves it to the closest interactive ancestor when there is one).
        #[serde(default)]
        target: Target<'a>,
    },
    /// A navigation: a new view starts.
    Pageview {
        /// How the navigation happened.
        #[serde(default)]
        navigation: NavigationKind,
        /// The route or URL navigated from, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<Cow<'a, str>>,
        /// The route or URL navigated to, when known (otherwise the event's `route`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<Cow<'a, str>>,
    },
    /// A batch of DOM mutations.
    Mutation {
        /// Number of mutation records in the batch.
        #[serde(default)]
        count: u32,
        /// Whether the batch touched the last clicked element's subtree or its neighbourhood
        /// (same parent chain within 3 levels, or an overlay/dialog insertion). Such mutations are
        /// "strong" liveness; others are "weak" (docs/detection.md "Liveness").
        #[serde(default)]
        near_target: bool,
    },
    /// An HTTP request. `timestamp_ms` is when it **started**; it ended `duration_ms` later.
    Network {
        /// HTTP method.
        #[serde(default)]
        method: Cow<'a, str>,
        /// The request URL (or URL template).
        #[serde(default)]
        url: Cow<'a, str>,
        /// Response status; `None` is a network error (no response).
        #[serde(default)]
        status: Option<u16>,
        /// How long the request took, when known.
        #[serde(default)]
        duration_ms: Option<u64>,
        /// The event id of the click that started the request, when the SDK knows it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        initiator: Option<Cow<'a, str>>,
    },
    /// An uncaught exception or unhandled rejection.
    Error {
        /// The error type (`TypeError`, ...). Named `errorType` because `type` is the event kind.
        #[serde(default)]
        error_type: Cow<'a, str>,
        /// The message (may contain user data: never copied into evidence).
        #[serde(default)]
        message: Cow<'a, str>,
        /// The SDK's error fingerprint, used to co-group an error click with its error.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fingerprint: Option<Cow<'a, str>>,
    },
    /// A scroll.
    Scroll {
        /// Vertical delta in px.
        #[serde(default)]
        dy: f64,
        /// Vertical position after the scroll, in px.
        #[serde(default)]
        y: f64,
    },
    /// A selection change.
    Selection {
        /// Length of the selected text (0 = collapsed).
        #[serde(default)]
        length: u32,
    },
    /// Focus moved to another element.
    Focus,
    /// The tab became hidden or visible.
    Visibility {
        /// `true` when the tab became hidden.
        #[serde(default)]
        hidden: bool,
    },
    /// An input/change on a form field (never its value).
    Input {
        /// A stable key for the field.
        #[serde(default)]
        field_key: Cow<'a, str>,
        /// Bucketed length of the value (0 = empty).
        #[serde(default)]
        length_bucket: u32,
        /// The field is invalid (`:invalid` or `aria-invalid`).
        #[serde(default)]
        invalid: bool,
    },
    /// A form submit.
    Submit {
        /// A stable key for the form.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        form_key: Option<Cow<'a, str>>,
    },
    /// A custom event from page code.
    Custom {
        /// Its name.
        #[serde(default)]
        name: Cow<'a, str>,
    },
    /// A server log line (`POST /v1/logs`).
    Log {
        /// The service that logged it.
        #[serde(default)]
        service: Cow<'a, str>,
        /// Its level.
        #[serde(default)]
        level: LogLevel,
        /// The message.
        #[serde(default)]
        message: Cow<'a, str>,
        /// Its structured attributes as a JSON object (`{}` or empty when it has none): carried
        /// into the signal's evidence so a ticket shows them.
        #[serde(default)]
        attributes: Cow<'a, str>,
    },
}

/// The clicked element (docs/architecture.md §3 `target`). Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Target<'a> {
    /// A CSS selector path to the element.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<Cow<'a, str>>,
    /// A stable element key chosen by the SDK (e.g. `data-testid`); preferred over anything derived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Cow<'a, str>>,
    /// Tag name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<Cow<'a, str>>,
    /// ARIA role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Cow<'a, str>>,
    /// Text or aria-label, masked by the SDK. Used only to recognise steppers/pagers; never in keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Cow<'a, str>>,
    /// Click x in viewport px.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<f64>,
    /// Click y in viewport px.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<f64>,
    /// Whether the SDK found an interactive element (closest interactive ancestor, or cursor:pointer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interactive: Option<bool>,
    /// `disabled` or `aria-disabled`.
    pub disabled: bool,
    /// The link target, for anchors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub href: Option<Cow<'a, str>>,
    /// The link opens a new tab or window (`target` other than `_self`).
    pub new_tab: bool,
    /// The link downloads (`a[download]`).
    pub download: bool,
    /// The kinds that `data-friction-ignore` on the element or an ancestor names (resolved by the SDK):
    /// `all` (or empty), `rage`, `dead`, `error`, or a signal kind name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<Cow<'a, str>>,
    /// The input `type` attribute, for inputs and buttons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#type: Option<Cow<'a, str>>,
}

/// Which mouse button (DOM `MouseEvent.button`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MouseButton {
    /// Button 0.
    #[default]
    Primary,
    /// Button 1 (wheel): opens links in a new tab.
    Middle,
    /// Button 2 (context menu).
    Secondary,
    /// Buttons 3 and 4, and anything else.
    Other,
}

impl MouseButton {
    /// From the DOM `MouseEvent.button` number.
    pub fn from_dom(button: u16) -> Self {
        match button {
            0 => Self::Primary,
            1 => Self::Middle,
            2 => Self::Secondary,
            _ => Self::Other,
        }
    }
}

/// Modifier keys held during a click.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Modifiers {
    /// Alt / Option.
    pub alt: bool,
    /// Control.
    pub ctrl: bool,
    /// Meta / Command.
    pub meta: bool,
    /// Shift.
    pub shift: bool,
}

impl Modifiers {
    /// Any modifier held.
    pub fn any(self) -> bool {
        self.alt || self.ctrl || self.meta || self.shift
    }
}

/// How a navigation happened (docs/architecture.md §3 `navigation.kind`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NavigationKind {
    /// A full page load.
    #[default]
    Load,
    /// `history.pushState`.
    Push,
    /// `popstate` (back/forward).
    Pop,
    /// `history.replaceState` (redirects).
    Replace,
    /// A reload.
    Reload,
    /// A hash change.
    Hash,
}

/// Log level of a server log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info (the default when a line names none).
    #[default]
    Info,
    /// Warning.
    #[serde(alias = "warning")]
    Warn,
    /// Error.
    #[serde(alias = "err")]
    Error,
    /// Fatal / critical / emergency.
    #[serde(alias = "critical", alias = "crit", alias = "emergency", alias = "alert")]
    Fatal,
}

/// Whether two events' tabs match. Events without a tab match every tab: an SDK that omits `tabId`
/// must not make every response look foreign (which would turn every click dead).
pub(crate) fn same_tab(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

fn own(c: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(c.into_owned())
}

fn own_opt(c: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
    c.map(own)
}

impl<'a> Event<'a> {
    /// An event with the common fields set; `tab_id` and `url` start empty.
    pub fn new(
        event_id: impl Into<Cow<'a, str>>,
        session_id: impl Into<Cow<'a, str>>,
        view_id: impl Into<Cow<'a, str>>,
        seq: u64,
        timestamp_ms: i64,
        route: impl Into<Cow<'a, str>>,
        kind: EventKind<'a>,
    ) -> Self {
        Self {
            event_id: event_id.into(),
            session_id: session_id.into(),
            tab_id: None,
            view_id: view_id.into(),
            seq,
            timestamp_ms,
            route: route.into(),
            url: None,
            kind,
        }
    }

    /// The same event with its tab set.
    #[must_use]
    pub fn with_tab(mut self, tab_id: impl Into<Cow<'a, str>>) -> Self {
        self.tab_id = Some(tab_id.into());
        self
    }

    /// A copy that owns all its strings, for keeping in state across batches.
    pub fn into_owned(self) -> Event<'static> {
        Event {
            event_id: own(self.event_id),
            session_id: own(self.session_id),
            tab_id: own_opt(self.tab_id),
            view_id: own(self.view_id),
            seq: self.seq,
            timestamp_ms: self.timestamp_ms,
            route: own(self.route),
            url: own_opt(self.url),
            kind: self.kind.into_owned(),
        }
    }

    /// The click target, when this is a click.
    pub fn click_target(&self) -> Option<&Target<'a>> {
        match &self.kind {
            EventKind::Click { target, .. } => Some(target),
            _ => None,
        }
    }
}

impl EventKind<'_> {
    /// A copy that owns all its strings.
    pub fn into_owned(self) -> EventKind<'static> {
        match self {
            EventKind::Click { button, modifiers, target } => {
                EventKind::Click { button, modifiers, target: target.into_owned() }
            }
            EventKind::Pageview { navigation, from, to } => {
                EventKind::Pageview { navigation, from: own_opt(from), to: own_opt(to) }
            }
            EventKind::Mutation { count, near_target } => EventKind::Mutation { count, near_target },
            EventKind::Network { method, url, status, duration_ms, initiator } => EventKind::Network {
                method: own(method),
                url: own(url),
                status,
                duration_ms,
                initiator: own_opt(initiator),
            },
            EventKind::Error { error_type, message, fingerprint } => EventKind::Error {
                error_type: own(error_type),
                message: own(message),
                fingerprint: own_opt(fingerprint),
            },
            EventKind::Scroll { dy, y } => EventKind::Scroll { dy, y },
            EventKind::Selection { length } => EventKind::Selection { length },
            EventKind::Focus => EventKind::Focus,
            EventKind::Visibility { hidden } => EventKind::Visibility { hidden },
            EventKind::Input { field_key, length_bucket, invalid } => {
                EventKind::Input { field_key: own(field_key), length_bucket, invalid }
            }
            EventKind::Submit { form_key } => EventKind::Submit { form_key: own_opt(form_key) },
            EventKind::Custom { name } => EventKind::Custom { name: own(name) },
            EventKind::Log { service, level, message, attributes } => {
                EventKind::Log { service: own(service), level, message: own(message), attributes: own(attributes) }
            }
        }
    }
}

impl Target<'_> {
    /// Whether `other` describes the same element as far as any suppression can tell: every
    /// field but the click position (destructured, so a new field must be placed here).
    pub(crate) fn same_element(&self, other: &Target<'_>) -> bool {
        let Target {
            selector,
            key,
            tag,
            role,
            text,
            x: _,
            y: _,
            interactive,
            disabled,
            href,
            new_tab,
            download,
            ignore,
            r#type,
        } = self;
        *selector == other.selector
            && *key == other.key
            && *tag == other.tag
            && *role == other.role
            && *text == other.text
            && *interactive == other.interactive
            && *disabled == other.disabled
            && *href == other.href
            && *new_tab == other.new_tab
            && *download == other.download
            && *ignore == other.ignore
            && *r#type == other.r#type
    }

    /// A copy that owns all its strings.
    pub fn into_owned(self) -> Target<'static> {
        Target {
            selector: own_opt(self.selector),
            key: own_opt(self.key),
            tag: own_opt(self.tag),
            role: own_opt(self.role),
            text: own_opt(self.text),
            x: self.x,
            y: self.y,
            interactive: self.interactive,
            disabled: self.disabled,
            href: own_opt(self.href),
            new_tab: self.new_tab,
            download: self.download,
            ignore: self.ignore.into_iter().map(own).collect(),
            r#type: own_opt(self.r#type),
        }
    }

    /// Click position, when both coordinates are known and finite.
    pub fn point(&self) -> Option<(f64, f64)> {
        match (self.x, self.y) {
            (Some(x), Some(y)) if x.is_finite() && y.is_finite() => Some((x, y)),
            _ => None,
        }
    }
}
